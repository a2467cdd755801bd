"""The dependency-audit policy of .ci/audit.py (docs/security.md, "Dependency audits"):
a finding fails unless accepted; an audit service that gives no answer is reported and
fails only with TUNIX_RT_AUDIT_REQUIRED=1. No network: the audits are stood in for."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

AUDIT = Path(__file__).resolve().parents[1] / ".ci" / "audit.py"


@pytest.fixture
def audit(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("ci_audit", AUDIT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "ci_audit", module)
    spec.loader.exec_module(module)
    monkeypatch.delenv("TUNIX_RT_AUDIT_REQUIRED", raising=False)
    return module


def _outcome(audit: ModuleType, monkeypatch: pytest.MonkeyPatch, pip: object, npm: object) -> int:
    monkeypatch.setattr(audit, "pip_audit", lambda accepted: pip)
    monkeypatch.setattr(audit, "npm_audit", lambda accepted: npm)
    return int(audit.main())


def test_a_finding_fails_unless_accepted(
    audit: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    vulns = [
        {"id": "GHSA-aaaa", "aliases": ["CVE-2099-1"], "fix_versions": ["1.1"]},
        {"id": "PYSEC-2099-2", "aliases": []},
    ]
    report = audit.Report("pip")
    audit._record(report, "pkg", "1.0", vulns, {"CVE-2099-1": "only in a CLI we never call"})
    assert report.findings == ["pkg 1.0: PYSEC-2099-2 (fixed in no fix)"]
    assert report.accepted == [
        "pkg 1.0: GHSA-aaaa / CVE-2099-1 (fixed in 1.1) — accepted: only in a CLI we never call"
    ]
    clean_npm = audit.Report("npm", audited=20)
    assert _outcome(audit, monkeypatch, report, clean_npm) == 1
    assert "VULNERABLE  pkg 1.0: PYSEC-2099-2" in capsys.readouterr().out
    report.findings.clear()
    assert _outcome(audit, monkeypatch, report, clean_npm) == 0


def test_an_unanswered_audit_is_reported_and_fails_only_when_required(
    audit: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pip = audit.Report("pip", audited=150, unaudited=["jax 0.1 (latest is 0.2)"])
    npm = audit.Report("npm", unavailable="the npm advisory service gave no answer (405)")
    assert _outcome(audit, monkeypatch, pip, npm) == 0
    out = capsys.readouterr().out
    assert "NOT AUDITED: the npm advisory service gave no answer (405)" in out
    assert "NOT AUDITED (1): jax 0.1 (latest is 0.2)" in out
    assert "WARNING: the audit is incomplete" in out
    monkeypatch.setenv("TUNIX_RT_AUDIT_REQUIRED", "1")
    assert _outcome(audit, monkeypatch, pip, npm) == 1


def test_accepted_ids_file(
    audit: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    accepted = tmp_path / "accepted.txt"
    accepted.write_text("# comment\nGHSA-1  reason one  # trailing\n\nCVE-2  reason two\n")
    monkeypatch.setattr(audit, "ACCEPTED_FILE", accepted)
    assert audit.accepted_ids() == {"GHSA-1": "reason one", "CVE-2": "reason two"}
