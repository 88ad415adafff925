"""KPI and manager-motivation reports read from the tracker store's event log."""

from kpi_reports.engine import compute_report
from kpi_reports.errors import ReportError, TrackerStoreError

__all__ = ["ReportError", "TrackerStoreError", "compute_report"]
