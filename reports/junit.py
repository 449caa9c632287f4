"""The gate's result as JUnit XML: one test case per check, so CI systems show it like tests."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any


def write_junit(document: dict[str, Any], path: Path) -> Path:
    checks = document["checks"]
    suite = ET.Element("testsuite", {
        "name": f"diagops verify {document['release']}",
        "tests": str(len(checks)),
        "failures": str(sum(c["status"] == "fail" for c in checks)),
        "errors": "0",
        "skipped": str(sum(c["status"] in ("skip", "manual") for c in checks)),
        "time": f"{sum(c['duration_s'] for c in checks):.3f}",
        "timestamp": document["generated_at"],
    })
    for c in checks:
        case = ET.SubElement(suite, "testcase", {"classname": f"diagops.verify.{c['category']}", "name": c["id"],
                                                 "time": f"{c['duration_s']:.3f}"})
        if c["status"] == "fail":
            failure = ET.SubElement(case, "failure", {"message": c["summary"]})
            failure.text = json.dumps(c["evidence"], ensure_ascii=False, indent=1, default=str)[:20000]
        elif c["status"] in ("skip", "manual"):
            ET.SubElement(case, "skipped", {"message": c["summary"]})
        out = ET.SubElement(case, "system-out")
        out.text = f"{c['status']}: {c['summary']}"
    for d in document["deselected"]:
        case = ET.SubElement(suite, "testcase", {"classname": f"diagops.verify.{d['category']}", "name": d["id"], "time": "0"})
        ET.SubElement(case, "skipped", {"message": "deselected (--select)"})
    suites = ET.Element("testsuites", {"name": "diagops verify"})
    suites.append(suite)
    ET.indent(suites)
    path.write_bytes(ET.tostring(suites, encoding="utf-8", xml_declaration=True) + b"\n")
    return path
