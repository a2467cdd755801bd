"""Dependency audits for .ci/run: pip-audit on the installed environment and
``npm audit --omit=dev --audit-level=high`` on the frontend (docs/security.md,
"Dependency audits").

Outcomes, each printed with what was and was not checked:

- a known vulnerability (any severity for Python packages: the PyPI advisory data has
  none; high or critical for npm) that is not accepted in .ci/audit-accepted.txt → exit 1;
- an audit service that cannot answer (network error, an error status, or every package
  skipped as "not found") is asked again once after RETRY_SECONDS; still no answer →
  "NOT AUDITED" in capitals, exit 0, or exit 1 when TUNIX_RT_AUDIT_REQUIRED=1 (set it where
  the services are known to be reachable, so an outage cannot pass for a clean audit);
- Python packages pip-audit could not look up are checked against the PyPI project
  document instead when the installed version is the latest release (its
  ``vulnerabilities`` list is that release's); the rest are listed as not audited.

Run with the project's interpreter: ``.venv/bin/python .ci/audit.py``.
"""

from __future__ import annotations

import concurrent.futures
import importlib.metadata
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ACCEPTED_FILE = ROOT / ".ci" / "audit-accepted.txt"
RETRY_SECONDS = 10.0
PYPI_JSON = "https://pypi.org/pypi/{name}/json"
NPM_BLOCKING = ("high", "critical")
OURSELVES = "tunix-rt"  # this checkout, installed editable: not a dependency


@dataclass
class Report:
    tool: str
    findings: list[str] = field(default_factory=list)  # not accepted: fail
    accepted: list[str] = field(default_factory=list)
    unaudited: list[str] = field(default_factory=list)
    audited: int = 0
    unavailable: str = ""  # why the service gave no answer at all


def accepted_ids() -> dict[str, str]:
    """Advisory id → reason, from .ci/audit-accepted.txt (``ID  reason``; # comments)."""
    out: dict[str, str] = {}
    if ACCEPTED_FILE.is_file():
        for line in ACCEPTED_FILE.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                ident, _, reason = line.partition(" ")
                out[ident] = reason.strip()
    return out


Result = subprocess.CompletedProcess[str]


def run_twice(
    cmd: list[str], cwd: Path, answered: Callable[[Result], bool], label: str
) -> tuple[Result, bool]:
    """Run ``cmd``; when ``answered(result)`` is false, wait and run it once more."""
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    if answered(result):
        return result, True
    why = _first_error(result)
    print(f"  no advisory data from {label} ({why}); retrying in {RETRY_SECONDS:.0f} s")
    time.sleep(RETRY_SECONDS)
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    return result, answered(result)


def _first_error(result: Result) -> str:
    if _skipped_all(result):
        return "every package skipped as not found on PyPI"
    lines = [ln for ln in (result.stderr or result.stdout).splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower()] or lines
    return errors[0][:200] if errors else f"exit {result.returncode}"


def _skipped_all(result: Result) -> bool:
    try:
        deps = json.loads(result.stdout).get("dependencies", [])
    except (json.JSONDecodeError, AttributeError):
        return False
    return bool(deps) and all("skip_reason" in d for d in deps)


def _pip_json(result: Result) -> dict[str, Any] | None:
    try:
        data = json.loads(result.stdout)
    except json.JSONDecodeError:
        return None
    deps = data.get("dependencies", [])
    # Every dependency skipped as "not found" is the service not answering, not a result.
    if deps and all("skip_reason" in d for d in deps):
        return None
    return data if deps else None


def pip_audit(accepted: dict[str, str]) -> Report:
    report = Report("pip-audit (installed Python environment)")
    cmd = [sys.executable, "-m", "pip_audit", "--format", "json", "--skip-editable"]
    cmd += ["--progress-spinner", "off"]
    result, _ = run_twice(cmd, ROOT, lambda r: _pip_json(r) is not None, "pip-audit")
    data = _pip_json(result)
    if data is None:
        try:
            skipped = [d["name"] for d in json.loads(result.stdout).get("dependencies", [])]
        except json.JSONDecodeError:  # pip-audit failed outright: look every package up
            skipped = sorted({d.metadata["Name"] for d in importlib.metadata.distributions()})
        report.unavailable = f"pip-audit got no advisory data ({_first_error(result)})"
        deps = [{"name": name, "skip_reason": "service"} for name in skipped]
    else:
        deps = data["dependencies"]
    lookups = []
    for dep in deps:
        if dep["name"] == OURSELVES:
            continue
        if "skip_reason" in dep:
            lookups.append(dep["name"])
            continue
        report.audited += 1
        _record(report, dep["name"], dep.get("version", "?"), dep.get("vulns", []), accepted)
    _pypi_fallback(report, lookups, accepted)
    if report.audited:
        report.unavailable = ""  # the fallback answered for some
    return report


def _record(
    report: Report, name: str, version: str, vulns: list[dict[str, Any]], accepted: dict[str, str]
) -> None:
    for vuln in vulns:
        ids = [vuln.get("id", "?"), *vuln.get("aliases", [])]
        fixed = ", ".join(vuln.get("fix_versions") or vuln.get("fixed_in") or []) or "no fix"
        text = f"{name} {version}: {' / '.join(ids)} (fixed in {fixed})"
        reason = next((accepted[i] for i in ids if i in accepted), None)
        if reason is None:
            report.findings.append(text)
        else:
            report.accepted.append(f"{text} — accepted: {reason}")


def _installed(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _project(name: str) -> tuple[str, dict[str, Any] | None]:
    for attempt in range(2):
        try:
            with urllib.request.urlopen(PYPI_JSON.format(name=name), timeout=30) as response:
                return name, json.load(response)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return name, None
        except (urllib.error.URLError, TimeoutError, OSError):
            pass
        if attempt == 0:
            time.sleep(RETRY_SECONDS)
    return name, None


def _pypi_fallback(report: Report, names: list[str], accepted: dict[str, str]) -> None:
    """The project document's ``vulnerabilities`` are its latest release's: they count
    for an installed version that is the latest one."""
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for name, project in pool.map(_project, names):
            version = _installed(name)
            if project is None or version is None:
                report.unaudited.append(f"{name} {version or '?'} (not on PyPI)")
            elif project["info"]["version"] != version:
                latest = project["info"]["version"]
                report.unaudited.append(f"{name} {version} (latest is {latest})")
            else:
                report.audited += 1
                _record(report, name, version, project.get("vulnerabilities") or [], accepted)


def npm_audit(accepted: dict[str, str]) -> Report:
    report = Report("npm audit --omit=dev (frontend runtime dependencies)")
    cmd = ["npm", "audit", "--omit=dev", "--audit-level=high", "--json"]

    def answered(result: Result) -> bool:
        try:
            data = json.loads(result.stdout)
        except json.JSONDecodeError:
            return False
        return "error" not in data and "metadata" in data

    result, ok = run_twice(cmd, ROOT / "frontend", answered, "npm audit")
    if not ok:
        report.unavailable = f"the npm advisory service gave no answer ({_first_error(result)})"
        return report
    data = json.loads(result.stdout)
    report.audited = int(data["metadata"].get("dependencies", {}).get("prod", 0))
    for name, vuln in data.get("vulnerabilities", {}).items():
        if vuln.get("severity") not in NPM_BLOCKING:
            continue
        sources = [v for v in vuln.get("via", []) if isinstance(v, dict)]
        ids = [str(v.get("url", "")).rsplit("/", 1)[-1] or str(v.get("source")) for v in sources]
        what = " / ".join(ids) or f"via {vuln.get('via')}"
        text = f"{name} {vuln.get('range', '')}: {vuln['severity']} {what}"
        reason = next((accepted[i] for i in ids if i in accepted), None)
        (report.findings if reason is None else report.accepted).append(
            text if reason is None else f"{text} — accepted: {reason}"
        )
    return report


def main() -> int:
    accepted = accepted_ids()
    required = os.environ.get("TUNIX_RT_AUDIT_REQUIRED") == "1"
    reports = [pip_audit(accepted), npm_audit(accepted)]
    status = 0
    for report in reports:
        print(f"\n== {report.tool}")
        if report.unavailable:
            print(f"  NOT AUDITED: {report.unavailable}")
        else:
            print(f"  audited: {report.audited} package(s)")
        for line in report.accepted:
            print(f"  accepted  {line}")
        for line in report.findings:
            print(f"  VULNERABLE  {line}")
        if report.unaudited:
            print(f"  NOT AUDITED ({len(report.unaudited)}): " + "; ".join(report.unaudited))
        if report.findings:
            status = 1
        if (report.unavailable or report.unaudited) and required:
            print("  TUNIX_RT_AUDIT_REQUIRED=1: an incomplete audit fails")
            status = 1
    gaps = [r.tool for r in reports if r.unavailable or r.unaudited]
    if gaps and not required:
        print(
            "\nWARNING: the audit is incomplete (" + "; ".join(gaps) + "). It does not fail "
            "the build unless TUNIX_RT_AUDIT_REQUIRED=1 (docs/security.md)."
        )
    print("\naudit: " + ("FAILED" if status else "passed"))
    return status


if __name__ == "__main__":
    sys.exit(main())
