"""lambdas/package.py without the network (--no-deps): each zip holds its handler, the shared
package and nothing of the services or tests; builds are byte-identical."""

from __future__ import annotations

import zipfile

from lambdas import package


def test_zips_hold_handler_and_shared_package_only(tmp_path):
    assert package.main(["--out", str(tmp_path), "--no-deps"]) == 0
    for name in package.FUNCTIONS:
        names = zipfile.ZipFile(tmp_path / f"{name}.zip").namelist()
        assert f"lambdas/{name}.py" in names and "lambdas/__init__.py" in names
        assert "tradeflow/aws/runtime.py" in names and "tradeflow/trading/engine.py" in names
        assert not any(n.startswith(("consumer/", "producers/", "tests/", "jobs/"))
                       or n in ("lambdas/package.py", "tools/aws_local.py") or ".pyc" in n
                       for n in names)
    first = (tmp_path / "ingest_news.zip").read_bytes()
    package.main(["--out", str(tmp_path), "--no-deps", "--only", "ingest_news"])
    assert (tmp_path / "ingest_news.zip").read_bytes() == first
