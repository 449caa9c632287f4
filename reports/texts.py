"""The report's words in both languages; the template holds structure only."""

from __future__ import annotations

from typing import Final

TEXTS: Final = {
    "en": {
        "title": "Phase 3 acceptance report",
        "release": "Release", "date": "Date", "target": "Target", "embedded": "embedded service started by the gate",
        "commit": "Commit", "spec": "Spec", "run_id": "Gate run",
        "summary": "1. Executive summary", "verdict": "Verdict", "score": "Score", "why": "Why",
        "counts": "Checks", "functional": "2. Functional acceptance", "performance": "3. Performance",
        "monitoring": "4. Monitoring", "quality": "5. Quality acceptance", "risks": "6. Risks and follow-ups",
        "signoff": "7. Sign-off",
        "metric": "Metric", "before": "Before", "measured": "Measured", "objective": "Objective", "result": "Result",
        "required": "required", "optional": "optional", "no_risks": "None: every selected check passed.",
        "none_selected": "No check of this category was selected.",
        "deselected": "deselected",
        "not_selected": "Not selected (deselected with --select, so neither passed nor failed)",
        "chart": "Delivery latency of live frames",
        "what_to_do": {
            "fail": "fix it, then run `{command}` again",
            "warn": "read the evidence; accept the risk at sign-off or fix it",
            "skip": "give the input it needs, or deselect it on purpose in diagops.yaml (verify.checks)",
            "manual": "settled by the approvers at sign-off",
        },
        "status": {"pass": "pass", "warn": "warn", "fail": "FAIL", "skip": "not run", "manual": "manual"},
        "verdicts": {"pass": "PASS", "warn": "WARN", "fail": "FAIL"},
        "signoff_note": "Signatures are DSSE envelopes in the bundle beside this file; "
                        "`diagops report verify` checks them. This section is outside the signed content.",
    },
    "zh": {
        "title": "第三阶段验收报告",
        "release": "版本", "date": "日期", "target": "目标", "embedded": "验收工具启动的内置服务",
        "commit": "提交", "spec": "规格", "run_id": "验收运行",
        "summary": "1. 执行摘要", "verdict": "结论", "score": "得分", "why": "原因",
        "counts": "检查项", "functional": "2. 功能验收", "performance": "3. 性能指标",
        "monitoring": "4. 监控告警", "quality": "5. 质量验收", "risks": "6. 风险与后续事项",
        "signoff": "7. 签字确认",
        "metric": "指标", "before": "优化前", "measured": "实测", "objective": "目标", "result": "结果",
        "required": "必需", "optional": "可选", "no_risks": "无：所有选中的检查均已通过。",
        "none_selected": "本类别没有选中的检查。",
        "deselected": "未选择",
        "not_selected": "未选择（通过 --select 排除，既不算通过也不算失败）",
        "chart": "实时推送延迟分布",
        "what_to_do": {
            "fail": "修复后重新运行 `{command}`",
            "warn": "查看证据；在签字时接受风险或修复",
            "skip": "提供所需输入，或在 diagops.yaml（verify.checks）中明确取消",
            "manual": "由审批人签字确认",
        },
        "status": {"pass": "通过", "warn": "警告", "fail": "失败", "skip": "未运行", "manual": "人工"},
        "verdicts": {"pass": "通过", "warn": "警告", "fail": "不通过"},
        "signoff_note": "签名为同目录 bundle 文件中的 DSSE 信封，可用 `diagops report verify` 校验。本节不在签名内容之内。",
    },
}
