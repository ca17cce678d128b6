"""Persistence: SQLModel tables (:mod:`.models`), the database engine and
migrations (:mod:`.db`), and keyword-only data functions (:mod:`.crud` for
tenants, extensions and aliases; :mod:`.dids` and :mod:`.did_import` for DIDs;
:mod:`.users` for API users and tokens).
"""
