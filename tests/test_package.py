"""The package layout: `platform/` is imported as `metacrm` and never shadows the standard
library's `platform` module."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_standard_platform_module_is_the_one_imported():
    import platform

    import metacrm

    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    assert Path(platform.__file__).resolve().parent == stdlib
    assert platform.python_version().startswith(f"{sys.version_info.major}.")
    assert any(Path(p).resolve() == ROOT / "platform" for p in metacrm.__path__)
    assert not (ROOT / "platform" / "__init__.py").exists()


def test_python_dash_m_from_the_repository_root_sees_both():
    code = ("import platform, metacrm.engine.records, metacrm.cli; "
            "print(platform.system(), platform.__file__)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, check=True)
    system, path = result.stdout.split()
    assert system == __import__("platform").system()
    assert "/platform/" not in path.replace(str(ROOT), "")
    assert not path.startswith(str(ROOT / "platform"))
