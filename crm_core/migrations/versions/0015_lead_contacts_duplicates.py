"""duplicate control: every phone and e-mail of a lead, the duplicate keys, skipped pairs, the merge journal

`lead_contacts` holds all of a lead's phones and e-mails (leads.phone / leads.email stay its first ones). A lead's
insert and a fill of its empty phone or e-mail add the value there by trigger, so the engine's three batch writers
and the bulk import keep it without code of their own. `duplicate_keys` counts the live leads that share a phone, an
e-mail or a full name (`leads.name_key`, crm_core.recognition.name_key), kept by triggers on both tables: the
duplicate list reads the keys counted twice or more through a partial index, never scanning the leads. A merged
lead stays as a record (`leads.merged_into`) so a merge can be undone; it is no one's duplicate.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 10:00:00
"""

import sqlalchemy as sa
from alembic import op

from crm_core.recognition import name_key

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

CHUNK = 10_000

_LIVE_NAME = "{r}.name_key IS NOT NULL AND {r}.merged_into IS NULL"

SQLITE_TRIGGERS = (
    # a lead's phone and e-mail are among its contacts (first, for a new lead)
    "CREATE TRIGGER leads_contacts_insert AFTER INSERT ON leads "
    "WHEN new.phone IS NOT NULL OR new.email IS NOT NULL BEGIN "
    "INSERT OR IGNORE INTO lead_contacts (lead_id, kind, value, comment, position) "
    "SELECT new.id, 'phone', new.phone, '', 0 WHERE new.phone IS NOT NULL; "
    "INSERT OR IGNORE INTO lead_contacts (lead_id, kind, value, comment, position) "
    "SELECT new.id, 'email', new.email, '', 0 WHERE new.email IS NOT NULL; END",
    "CREATE TRIGGER leads_contacts_update AFTER UPDATE OF phone, email ON leads BEGIN "
    "INSERT OR IGNORE INTO lead_contacts (lead_id, kind, value, comment, position) "
    "SELECT new.id, 'phone', new.phone, '', (SELECT coalesce(max(position) + 1, 0) FROM lead_contacts "
    "WHERE lead_id = new.id AND kind = 'phone') WHERE new.phone IS NOT NULL; "
    "INSERT OR IGNORE INTO lead_contacts (lead_id, kind, value, comment, position) "
    "SELECT new.id, 'email', new.email, '', (SELECT coalesce(max(position) + 1, 0) FROM lead_contacts "
    "WHERE lead_id = new.id AND kind = 'email') WHERE new.email IS NOT NULL; END",
    # the counts of shared keys
    "CREATE TRIGGER lead_contacts_dup_insert AFTER INSERT ON lead_contacts BEGIN "
    "INSERT INTO duplicate_keys (criterion, key, leads) VALUES (new.kind, new.value, 1) "
    "ON CONFLICT (criterion, key) DO UPDATE SET leads = leads + 1; END",
    "CREATE TRIGGER lead_contacts_dup_delete AFTER DELETE ON lead_contacts BEGIN "
    "UPDATE duplicate_keys SET leads = leads - 1 WHERE criterion = old.kind AND key = old.value; "
    "DELETE FROM duplicate_keys WHERE criterion = old.kind AND key = old.value AND leads <= 0; END",
    f"CREATE TRIGGER leads_dup_name_insert AFTER INSERT ON leads WHEN {_LIVE_NAME.format(r='new')} BEGIN "
    "INSERT INTO duplicate_keys (criterion, key, leads) VALUES ('name', new.name_key, 1) "
    "ON CONFLICT (criterion, key) DO UPDATE SET leads = leads + 1; END",
    "CREATE TRIGGER leads_dup_name_update AFTER UPDATE OF name_key, merged_into ON leads "
    f"WHEN ({_LIVE_NAME.format(r='old')}) IS NOT ({_LIVE_NAME.format(r='new')}) "
    "OR old.name_key IS NOT new.name_key BEGIN "
    "UPDATE duplicate_keys SET leads = leads - 1 "
    f"WHERE criterion = 'name' AND key = old.name_key AND {_LIVE_NAME.format(r='old')}; "
    "DELETE FROM duplicate_keys WHERE criterion = 'name' AND key = old.name_key AND leads <= 0; "
    "INSERT INTO duplicate_keys (criterion, key, leads) "
    f"SELECT 'name', new.name_key, 1 WHERE {_LIVE_NAME.format(r='new')} "
    "ON CONFLICT (criterion, key) DO UPDATE SET leads = leads + 1; END",
    f"CREATE TRIGGER leads_dup_name_delete AFTER DELETE ON leads WHEN {_LIVE_NAME.format(r='old')} BEGIN "
    "UPDATE duplicate_keys SET leads = leads - 1 WHERE criterion = 'name' AND key = old.name_key; "
    "DELETE FROM duplicate_keys WHERE criterion = 'name' AND key = old.name_key AND leads <= 0; END",
)
SQLITE_TRIGGER_NAMES = (
    "leads_contacts_insert",
    "leads_contacts_update",
    "lead_contacts_dup_insert",
    "lead_contacts_dup_delete",
    "leads_dup_name_insert",
    "leads_dup_name_update",
    "leads_dup_name_delete",
)

PG_FUNCTIONS = (
    # n leads more (or fewer) share the key; a key nobody shares any more goes
    "CREATE FUNCTION openlines_dup_count(c text, k text, n integer) RETURNS void LANGUAGE plpgsql AS $$ BEGIN "
    "IF n > 0 THEN INSERT INTO duplicate_keys (criterion, key, leads) VALUES (c, k, n) "
    "ON CONFLICT (criterion, key) DO UPDATE SET leads = duplicate_keys.leads + n; "
    "ELSE DELETE FROM duplicate_keys WHERE criterion = c AND key = k AND leads + n <= 0; "
    "UPDATE duplicate_keys SET leads = leads + n WHERE criterion = c AND key = k; END IF; END $$",
    "CREATE FUNCTION openlines_leads_contacts() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "IF NEW.phone IS NOT NULL AND (TG_OP = 'INSERT' OR OLD.phone IS DISTINCT FROM NEW.phone) THEN "
    "INSERT INTO lead_contacts (lead_id, kind, value, comment, position) SELECT NEW.id, 'phone', NEW.phone, '', "
    "coalesce(max(position) + 1, 0) FROM lead_contacts WHERE lead_id = NEW.id AND kind = 'phone' "
    "ON CONFLICT DO NOTHING; END IF; "
    "IF NEW.email IS NOT NULL AND (TG_OP = 'INSERT' OR OLD.email IS DISTINCT FROM NEW.email) THEN "
    "INSERT INTO lead_contacts (lead_id, kind, value, comment, position) SELECT NEW.id, 'email', NEW.email, '', "
    "coalesce(max(position) + 1, 0) FROM lead_contacts WHERE lead_id = NEW.id AND kind = 'email' "
    "ON CONFLICT DO NOTHING; END IF; "
    "IF TG_OP = 'UPDATE' AND OLD.name_key IS NOT NULL AND OLD.merged_into IS NULL THEN "
    "PERFORM openlines_dup_count('name', OLD.name_key, -1); END IF; "
    "IF NEW.name_key IS NOT NULL AND NEW.merged_into IS NULL THEN "
    "PERFORM openlines_dup_count('name', NEW.name_key, 1); END IF; "
    "RETURN NULL; END $$",
    "CREATE FUNCTION openlines_leads_gone() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "IF OLD.name_key IS NOT NULL AND OLD.merged_into IS NULL THEN "
    "PERFORM openlines_dup_count('name', OLD.name_key, -1); END IF; RETURN NULL; END $$",
    "CREATE FUNCTION openlines_lead_contacts_dup() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "IF TG_OP = 'INSERT' THEN PERFORM openlines_dup_count(NEW.kind, NEW.value, 1); "
    "ELSE PERFORM openlines_dup_count(OLD.kind, OLD.value, -1); END IF; RETURN NULL; END $$",
)
PG_TRIGGERS = (
    "CREATE TRIGGER leads_contacts_insert AFTER INSERT ON leads FOR EACH ROW "
    "WHEN (NEW.phone IS NOT NULL OR NEW.email IS NOT NULL OR NEW.name_key IS NOT NULL) "
    "EXECUTE FUNCTION openlines_leads_contacts()",
    "CREATE TRIGGER leads_contacts_update AFTER UPDATE OF phone, email, name_key, merged_into ON leads "
    "FOR EACH ROW WHEN (OLD.phone IS DISTINCT FROM NEW.phone OR OLD.email IS DISTINCT FROM NEW.email "
    "OR OLD.name_key IS DISTINCT FROM NEW.name_key OR OLD.merged_into IS DISTINCT FROM NEW.merged_into) "
    "EXECUTE FUNCTION openlines_leads_contacts()",
    "CREATE TRIGGER leads_dup_name_delete AFTER DELETE ON leads FOR EACH ROW "
    "EXECUTE FUNCTION openlines_leads_gone()",
    "CREATE TRIGGER lead_contacts_dup AFTER INSERT OR DELETE ON lead_contacts FOR EACH ROW "
    "EXECUTE FUNCTION openlines_lead_contacts_dup()",
)
PG_DOWN = (
    "DROP TRIGGER IF EXISTS lead_contacts_dup ON lead_contacts",
    "DROP TRIGGER IF EXISTS leads_dup_name_delete ON leads",
    "DROP TRIGGER IF EXISTS leads_contacts_update ON leads",
    "DROP TRIGGER IF EXISTS leads_contacts_insert ON leads",
    "DROP FUNCTION IF EXISTS openlines_lead_contacts_dup()",
    "DROP FUNCTION IF EXISTS openlines_leads_gone()",
    "DROP FUNCTION IF EXISTS openlines_leads_contacts()",
    "DROP FUNCTION IF EXISTS openlines_dup_count(text, text, integer)",
)


def upgrade() -> None:
    op.add_column("leads", sa.Column("name_key", sa.String(length=200), nullable=True))
    op.add_column("leads", sa.Column("merged_into", sa.String(length=32), nullable=True))
    op.create_index("ix_leads_name_key", "leads", ["name_key"])
    op.create_table(
        "lead_contacts",
        sa.Column("lead_id", sa.String(length=32), sa.ForeignKey("leads.id"), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value", sa.String(length=320), nullable=False),
        sa.Column("comment", sa.Text(), server_default="", nullable=False),
        sa.Column("position", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("lead_id", "kind", "value", name="pk_lead_contacts"),
    )
    op.create_index("ix_lead_contacts_value", "lead_contacts", ["kind", "value"])
    op.create_table(
        "duplicate_keys",
        sa.Column("criterion", sa.String(length=8), nullable=False),
        sa.Column("key", sa.String(length=320), nullable=False),
        sa.Column("leads", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("criterion", "key", name="pk_duplicate_keys"),
    )
    op.create_table(
        "duplicate_skips",
        sa.Column("lead_a", sa.String(length=32), nullable=False),
        sa.Column("lead_b", sa.String(length=32), nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("lead_a", "lead_b", name="pk_duplicate_skips"),
    )
    op.create_table(
        "lead_merges",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("main_id", sa.String(length=32), nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.Column("undone_by", sa.String(length=64), nullable=True),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_lead_merges"),
    )
    op.create_index("ix_lead_merges_at", "lead_merges", ["at"])
    op.create_index("ix_lead_merges_main", "lead_merges", ["main_id"])
    fill()
    # the duplicate list reads only the keys some leads share
    shared = sa.text("leads > 1")
    op.create_index(
        "ix_duplicate_keys_shared",
        "duplicate_keys",
        ["criterion", "key"],
        sqlite_where=shared,
        postgresql_where=shared,
    )
    if op.get_bind().dialect.name == "postgresql":
        for sql in (*PG_FUNCTIONS, *PG_TRIGGERS):
            op.execute(sql)
    else:
        for sql in SQLITE_TRIGGERS:
            op.execute(sql)


def fill() -> None:
    """The stored leads' contacts, name keys and duplicate counts (before the triggers keep them)."""
    conn = op.get_bind()
    for kind in ("phone", "email"):
        op.execute(
            f"INSERT INTO lead_contacts (lead_id, kind, value, comment, position) "
            f"SELECT id, '{kind}', {kind}, '', 0 FROM leads WHERE {kind} IS NOT NULL"
        )
    leads = sa.table("leads", sa.column("id", sa.String), sa.column("name", sa.Text), sa.column("name_key"))
    last = ""
    while True:  # Python's name_key: no database folds every script alike
        rows = conn.execute(
            sa.select(leads.c.id, leads.c.name).where(leads.c.id > last).order_by(leads.c.id).limit(CHUNK)
        ).all()
        if not rows:
            break
        keyed = [{"lead_id": r.id, "k": k} for r in rows if (k := name_key(r.name)) is not None]
        if keyed:
            conn.execute(
                leads.update()
                .where(leads.c.id == sa.bindparam("lead_id"))
                .values(name_key=sa.bindparam("k")),
                keyed,
            )
        last = rows[-1].id
    op.execute(
        "INSERT INTO duplicate_keys (criterion, key, leads) "
        "SELECT kind, value, count(*) FROM lead_contacts GROUP BY kind, value"
    )
    op.execute(
        "INSERT INTO duplicate_keys (criterion, key, leads) SELECT 'name', name_key, count(*) FROM leads "
        "WHERE name_key IS NOT NULL AND merged_into IS NULL GROUP BY name_key"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for sql in PG_DOWN:
            op.execute(sql)
    else:
        for name in SQLITE_TRIGGER_NAMES:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_index("ix_duplicate_keys_shared", table_name="duplicate_keys")
    op.drop_index("ix_lead_merges_main", table_name="lead_merges")
    op.drop_index("ix_lead_merges_at", table_name="lead_merges")
    op.drop_table("lead_merges")
    op.drop_table("duplicate_skips")
    op.drop_table("duplicate_keys")
    op.drop_index("ix_lead_contacts_value", table_name="lead_contacts")
    op.drop_table("lead_contacts")
    op.drop_index("ix_leads_name_key", table_name="leads")
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_column("merged_into")
        batch_op.drop_column("name_key")
