"""Turn `dashboards.panels` into Grafana dashboard JSON with grafana-foundation-sdk (Grafana 11.6 line).

The SDK is imported inside the functions: `diagops --help` must not pay for it.
"""

from __future__ import annotations

import json
from typing import Any

from diagops.dashboards.panels import Panel, Row, refresh_interval, rows
from diagops.spec import Spec

UID = "diagops"
DATASOURCE_VAR = "datasource"


def _thresholds(panel: Panel) -> Any:
    from grafana_foundation_sdk.builders.dashboard import ThresholdsConfig
    from grafana_foundation_sdk.models.dashboard import Threshold, ThresholdsMode

    steps = [Threshold(value=None, color=panel.base_color)] + [Threshold(value=v, color=c) for v, c in panel.thresholds]
    return ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(steps)


def _panel(panel: Panel, panel_id: int) -> Any:
    from grafana_foundation_sdk.builders import prometheus, stat, timeseries
    from grafana_foundation_sdk.builders.common import GraphThresholdsStyleConfig, ReduceDataOptions, VizLegendOptions
    from grafana_foundation_sdk.models.common import (
        BigValueColorMode,
        BigValueGraphMode,
        GraphThresholdsStyleMode,
        LegendDisplayMode,
        LegendPlacement,
    )
    from grafana_foundation_sdk.models.dashboard import DataSourceRef

    datasource = DataSourceRef(type_val="prometheus", uid=f"${{{DATASOURCE_VAR}}}")
    if panel.kind == "stat":
        builder: Any = (
            stat.Panel()
            .graph_mode(BigValueGraphMode.AREA)
            .color_mode(BigValueColorMode.VALUE)
            .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]))
        )
    else:
        builder = (
            timeseries.Panel()
            .line_width(1)
            .fill_opacity(10)
            .legend(VizLegendOptions().display_mode(LegendDisplayMode.LIST).placement(LegendPlacement.BOTTOM).show_legend(True))
            .thresholds_style(
                GraphThresholdsStyleConfig().mode(
                    GraphThresholdsStyleMode.DASHED if panel.thresholds else GraphThresholdsStyleMode.OFF
                )
            )
        )
    builder = (
        builder.id(panel_id)
        .title(panel.title)
        .description(panel.description)
        .datasource(datasource)
        .unit(panel.unit)
        .span(panel.width)
        .height(8)
        .thresholds(_thresholds(panel))
    )
    if panel.minimum is not None:
        builder = builder.min(panel.minimum)
    if panel.maximum is not None:
        builder = builder.max(panel.maximum)
    for index, query in enumerate(panel.queries):
        builder = builder.with_target(
            prometheus.Dataquery().expr(query.expr).legend_format(query.legend).ref_id(chr(ord("A") + index)).datasource(datasource)
        )
    return builder


def build(spec: Spec) -> dict[str, Any]:
    """The dashboard as a JSON-ready dict: a datasource variable and one row per area."""
    from grafana_foundation_sdk.builders.dashboard import Dashboard, DatasourceVariable
    from grafana_foundation_sdk.builders.dashboard import Row as RowBuilder
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models.dashboard import DashboardCursorSync, VariableOption

    board = (
        Dashboard("diagops")
        .uid(UID)
        .description(
            "The diagnosis push service against its objectives (generated from diagops.yaml by "
            "`diagops dashboards generate`; do not edit in Grafana, change the spec)."
        )
        .tags(["diagops", "slo"])
        .editable()
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .time("now-6h", "now")
        .timezone("browser")
        .refresh(refresh_interval(spec))
        .with_variable(
            DatasourceVariable(DATASOURCE_VAR)
            .label("Data source")
            .type("prometheus")
            .current(VariableOption(selected=True, text="Prometheus", value="prometheus"))
        )
    )
    panel_id = 1
    row: Row
    for row in rows(spec):
        board = board.with_row(RowBuilder(row.title).id(panel_id))
        panel_id += 1
        for panel in row.panels:
            board = board.with_panel(_panel(panel, panel_id))
            panel_id += 1
    return json.loads(json.dumps(board.build(), cls=JSONEncoder))


def render(spec: Spec) -> str:
    """Stable text for the committed dashboards/diagops.json."""
    return json.dumps(build(spec), indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expr) for every query target of a dashboard JSON: what the live test runs."""
    found = []
    for panel in dashboard.get("panels", []):
        for inner in [panel, *panel.get("panels", [])]:
            for target in inner.get("targets", []) or []:
                if target.get("expr"):
                    found.append((inner.get("title", "?"), target["expr"]))
    return found
