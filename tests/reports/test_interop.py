"""The bundle is standard DSSE: securesystemslib alone, with only the public key, verifies an approval."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path

import pytest
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError

from diagops.reports.canonical import read_report, subject_digest
from diagops.reports.keys import load_public_key


def test_securesystemslib_verifies_an_approval_with_the_public_key(report: Path, sign, keys: Path) -> None:
    assert sign(report, "carol", "--accept-risk", "known").code == 0
    data = json.loads(report.with_name("REPORT.intoto.jsonl").read_text().splitlines()[1])
    envelope = Envelope.from_dict(copy.deepcopy(data))
    carol = load_public_key(keys / "carol.pub")
    assert list(envelope.verify([carol], 1)) == [carol.keyid]
    with pytest.raises(VerificationError):
        envelope.verify([load_public_key(keys / "alice.pub")], 1)
    assert envelope.pae() == b"DSSEv1 28 application/vnd.in-toto+json %d %b" % (len(envelope.payload), envelope.payload)
    body = json.loads(base64.b64decode(data["payload"]))
    assert body["_type"] == "https://in-toto.io/Statement/v1"
    assert body["subject"] == [{"name": "REPORT.md", "digest": {"sha256": subject_digest(read_report(report))}}]
    assert body["predicateType"] == "https://diagops.dev/attestation/release-approval/v1"
    assert body["predicate"] | {"date": None} == {"approver": "carol", "role": "product_manager",
                                                  "decision": "approve-with-risk", "date": None,
                                                  "acceptedRisk": "known", "gateResult": "PASSED"}
