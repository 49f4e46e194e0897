"""Data: the unified record, readers and writers for published formats, validation, images."""

from groundrl.data.records import TASKS, Record, read_records, write_records

__all__ = ["TASKS", "Record", "read_records", "write_records"]
