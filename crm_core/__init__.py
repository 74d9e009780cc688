"""Leads and what is known about customers: tables, migrations and the async store."""
