"""What a consistency check found (operations_app.consistency)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from assets_app.models import Tenant


@dataclass(frozen=True)
class Violation:
    invariant: str  # a key of INVARIANTS
    subject: str  # "operation <uuid>", "document <uuid>", "asset <uuid>", "chunk …"
    detail: str


@dataclass
class Report:
    checked: dict[str, int] = field(default_factory=dict)  # rows read, by kind
    violations: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def add(self, invariant: str, subject: str, detail: str) -> None:
        self.violations.append(Violation(invariant, subject, detail))

    def as_dict(self) -> dict:
        return {"ok": self.ok, "checked": self.checked,
                "violations": [asdict(v) for v in self.violations]}  # fmt: skip


def _scope(tenant: Tenant | None, prefix: str) -> dict:
    """Filter kwargs of rows of ``tenant`` through ``prefix`` (all rows: None)."""
    return {} if tenant is None else {f"{prefix}tenant": tenant}
