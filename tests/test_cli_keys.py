"""`ftmatrix keys` on a database that is not there or not migrated: one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from service import cli


def test_keys_on_a_missing_database_say_how_to_make_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FTM_DATABASE_URL", "sqlite:///./data/missing.db")
    from service.config import get_settings

    get_settings.cache_clear()
    assert cli.main(["keys", "list"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "ftmatrix db upgrade" in err[0]
    assert "sqlite:///./data/missing.db" in err[0]
    assert not (tmp_path / "data").exists()  # no empty folder left behind
    get_settings.cache_clear()


def test_keys_on_an_unmigrated_database_say_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty.db").touch()
    monkeypatch.setenv("FTM_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    from service.config import get_settings

    get_settings.cache_clear()
    assert cli.main(["keys", "create", "--name", "a", "--scope", "read"]) == 2
    err = capsys.readouterr().err
    assert "has no schema yet" in err
    assert "Traceback" not in err
    get_settings.cache_clear()
