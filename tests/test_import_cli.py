"""`metacrm import` as a real process: a 100,000-row import killed in the middle and then
resumed lands every row exactly once; the dry run ends with the same summary line shape."""

from __future__ import annotations

import csv
import io
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
METACRM = [sys.executable, "-m", "metacrm.cli"]
ROWS = 100_000


def env_for(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": database_url,
            "METACRM_APP": str(ROOT / "apps" / "default_crm")}


def big_csv(path: Path) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Họ", "Tên", "Email", "Tỉnh / thành phố"])
    cities = ["Hà Nội", "Huế", "Đà Nẵng", "Cần Thơ"]
    for i in range(ROWS):
        writer.writerow(["Nguyễn", f"Khách {i}", f"khach{i}@vidu.vn", cities[i % 4]])
    path.write_bytes(out.getvalue().encode("utf-8-sig"))


@pytest.mark.slow  # 100,000 rows through two real import processes: half a minute
def test_a_killed_import_resumes_and_imports_every_row_exactly_once(database_url, tmp_path):
    env = env_for(database_url, tmp_path)
    file = tmp_path / "khach-hang.csv"
    big_csv(file)
    job = None
    with subprocess.Popen([*METACRM, "import", "contact", str(file), "--verbose"],
                          cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            found = re.match(r"import (\d+):", line)
            if found:
                job = int(found.group(1))
            progress = re.match(r"\s+(\d+)/(\d+) rows", line)
            if progress and int(progress.group(1)) >= ROWS * 3 // 10:
                proc.send_signal(signal.SIGKILL)  # in the middle of a batch, no goodbye
                break
        proc.wait(timeout=60)
    assert job is not None and proc.returncode == -signal.SIGKILL
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        landed = conn.execute(sa.text("SELECT count(*) FROM contact")).scalar()
        done = conn.execute(sa.text("SELECT done FROM mc_import WHERE id = :id"),
                            {"id": job}).scalar()
    assert 0 < landed < ROWS and landed == done  # committed batches only, and counted
    resumed = subprocess.run([*METACRM, "import", "--resume", str(job)], cwd=tmp_path,
                             env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert resumed.stdout.strip().splitlines()[-1] == \
        f"inserted {ROWS}, updated 0, rejected 0 of {ROWS} rows"
    with engine.connect() as conn:
        total, distinct = conn.execute(sa.text(
            "SELECT count(*), count(DISTINCT email) FROM contact")).one()
        status = conn.execute(sa.text("SELECT status FROM mc_import WHERE id = :id"),
                              {"id": job}).scalar()
    engine.dispose()
    assert total == distinct == ROWS and status == "done"


def test_import_command_dry_run_and_bad_arguments(database_url, tmp_path):
    env = env_for(database_url, tmp_path)
    file = tmp_path / "it.csv"
    file.write_text("Họ;Tên;Email;Giai đoạn vòng đời\nLê;An;an.le@vidu.vn;Khách hàng\n"
                    "Lê;Bình;khong-phai-email;lead\n", encoding="utf-8")
    dry = subprocess.run([*METACRM, "import", "contact", str(file), "--dry-run"], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=120)
    assert dry.returncode == 0, dry.stderr
    assert "Giai đoạn vòng đời -> lifecycle_stage" in dry.stdout
    assert "row 3: Email" in dry.stdout
    assert dry.stdout.strip().splitlines()[-1] == \
        "dry run: would insert 1, would update 0, rejected 1 of 2 rows"
    bad = subprocess.run([*METACRM, "import", "contact", str(file), "--map", "Email=salary"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "not a field" in bad.stderr
    real = subprocess.run([*METACRM, "import", "contact", str(file), "--key", "email"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert real.stdout.strip().splitlines()[-1] == \
        "inserted 1, updated 0, rejected 1 of 2 rows", real.stdout + real.stderr
