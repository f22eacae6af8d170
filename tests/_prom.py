"""Prometheus text read back with prometheus_client's own parser, one ``name{labels} value``
line per sample (labels sorted, integral values without ``.0``), for assertions."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def prom_lines(text: str) -> list[str]:
    out = []
    for family in text_string_to_metric_families(text):
        out.append(f"# TYPE {family.name} {family.type}")
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            value = int(s.value) if float(s.value).is_integer() else s.value
            out.append(f"{s.name}{{{labels}}} {value}" if labels else f"{s.name} {value}")
    return out
