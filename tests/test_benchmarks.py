"""The benchmark harness as a newcomer meets it: without the ``bench`` extra (matplotlib), the
polling case still prints and writes its figures; only the plot is skipped, with a note."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from benchmarks.polling import plot

FIGURES = {"cases": [{"case": "200 together", "sdk": {"jobs": 200, "polls_per_job": 3.3,
                                                      "lag_p90": 0.21},
                      "fixed": {"2s": {"polls_per_job": 26.0, "lag_p90": 0.04}}}]}


def test_the_plot_is_skipped_with_a_note_without_matplotlib(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    target = tmp_path / "polling.png"
    assert plot(FIGURES, target) is False
    assert not target.exists()
    assert "pip install -e '.[bench]'" in capsys.readouterr().out


def test_the_plot_is_drawn_with_matplotlib(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    target = tmp_path / "polling.png"
    assert plot(FIGURES, target) is True
    assert target.read_bytes().startswith(b"\x89PNG")
