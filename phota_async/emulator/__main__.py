"""`python -m phota_async.emulator`: run the emulator from the command line."""

from __future__ import annotations

from ._command import main

if __name__ == "__main__":
    raise SystemExit(main())
