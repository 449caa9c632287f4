"""The acceptance report's attestations: what the gate says, who approved it, and checking both.

The report's content outside its sign-off block is the subject of every statement; the gate's
test result and each approver's signed approval sit beside the report as in-toto statements in
DSSE envelopes, one per line of `<report stem>.intoto.jsonl`. Importing this package is cheap:
securesystemslib is imported by the modules that sign and verify.
"""
