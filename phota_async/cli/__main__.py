"""``python -m phota_async.cli``: the same as the ``phota`` command."""

from __future__ import annotations

from . import main

raise SystemExit(main())
