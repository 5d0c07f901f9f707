"""Schemas of the two journal files. Append new versions; never edit an applied one."""

from __future__ import annotations

from edgeconsole.journal.db import Migrations

#: audit.db: synchronous=FULL. Rare, important rows: every one reaches the disk.
AUDIT_MIGRATIONS: Migrations = (
    (
        1,
        """
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            ts_ns INTEGER NOT NULL,
            level TEXT NOT NULL,
            kind TEXT NOT NULL,
            target TEXT NOT NULL DEFAULT '',
            message TEXT NOT NULL,
            fields TEXT NOT NULL DEFAULT '{}',
            site TEXT NOT NULL DEFAULT '',
            technician TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX events_ts ON events(ts_ns);
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        """,
    ),
    (
        2,
        """
        CREATE TABLE targets (
            identity TEXT PRIMARY KEY,
            kind TEXT NOT NULL DEFAULT '',
            hardware_id TEXT NOT NULL DEFAULT '',
            firmware TEXT NOT NULL DEFAULT '',
            site TEXT NOT NULL DEFAULT '',
            first_seen_ns INTEGER NOT NULL,
            last_seen_ns INTEGER NOT NULL
        );
        CREATE TABLE target_slots (
            identity TEXT NOT NULL REFERENCES targets(identity) ON DELETE CASCADE,
            slot TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT '',
            bundle_id TEXT,
            bundle_version INTEGER,
            bundle_hash TEXT,
            updated_ns INTEGER NOT NULL,
            PRIMARY KEY (identity, slot)
        );
        CREATE INDEX targets_hw ON targets(hardware_id);
        """,
    ),
    (
        3,
        """
        CREATE TABLE recordings (
            path TEXT PRIMARY KEY,
            target TEXT NOT NULL DEFAULT '',
            started_ns INTEGER NOT NULL,
            ended_ns INTEGER,
            frames INTEGER NOT NULL DEFAULT 0,
            dropped INTEGER NOT NULL DEFAULT 0
        );
        """,
    ),
)

#: telemetry-NNNNNN.db: synchronous=NORMAL, written in batches by one writer thread.
TELEMETRY_MIGRATIONS: Migrations = (
    (
        1,
        """
        CREATE TABLE telemetry (
            ts_ns INTEGER NOT NULL,
            target TEXT NOT NULL,
            channel TEXT NOT NULL,
            value REAL
        );
        CREATE INDEX telemetry_ts ON telemetry(ts_ns);
        CREATE TABLE results (
            ts_ns INTEGER NOT NULL,
            target TEXT NOT NULL,
            frame_index INTEGER NOT NULL,
            summary TEXT NOT NULL
        );
        CREATE INDEX results_ts ON results(ts_ns);
        CREATE TABLE latency (
            ts_ns INTEGER NOT NULL,
            target TEXT NOT NULL,
            frame_index INTEGER NOT NULL,
            e2e_ms REAL,
            unaccounted_ms REAL,
            first_inference INTEGER NOT NULL DEFAULT 0,
            capture_ms REAL,
            preprocess_ms REAL,
            infer_ms REAL,
            postprocess_ms REAL,
            overlay_ms REAL
        );
        CREATE INDEX latency_ts ON latency(ts_ns);
        """,
    ),
    (
        2,
        # Line-rate QC (issue 12): one row per physical part, decided or missed.
        """
        CREATE TABLE parts (
            ts_ns INTEGER NOT NULL,
            target TEXT NOT NULL,
            part_id INTEGER NOT NULL,
            verdict TEXT NOT NULL,
            passed INTEGER NOT NULL,
            trigger TEXT NOT NULL,
            trigger_frame INTEGER NOT NULL,
            decided_frame INTEGER NOT NULL,
            decision_ms REAL,
            late INTEGER NOT NULL DEFAULT 0,
            score REAL,
            note TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX parts_ts ON parts(ts_ns);
        """,
    ),
    (
        3,
        # The reject gate (issue 16): one row per PLC trigger and what became of it.
        """
        CREATE TABLE plc_parts (
            ts_ns INTEGER NOT NULL,
            target TEXT NOT NULL,
            plc TEXT NOT NULL,
            seq INTEGER NOT NULL,
            counter INTEGER,
            part_id INTEGER,
            verdict TEXT,
            class_id INTEGER,
            label TEXT NOT NULL DEFAULT '',
            decision_ms REAL,
            trigger_to_result_ms REAL,
            result_to_ack_ms REAL,
            late INTEGER NOT NULL DEFAULT 0,
            acked INTEGER NOT NULL DEFAULT 0,
            handed_over INTEGER NOT NULL DEFAULT 0,
            error TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX plc_parts_ts ON plc_parts(ts_ns);
        """,
    ),
    (
        4,
        # Which execution provider and intra-op thread count decided each part
        # (issue 12): threads '1', '4' or 'auto'; both empty for a missed part.
        """
        ALTER TABLE parts ADD COLUMN provider TEXT NOT NULL DEFAULT '';
        ALTER TABLE parts ADD COLUMN threads TEXT NOT NULL DEFAULT '';
        """,
    ),
)
