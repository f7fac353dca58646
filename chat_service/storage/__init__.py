"""The only package that speaks to MongoDB (PyMongo's async API)."""

from chat_service.storage.database import Database, NodeInfo, open_database

__all__ = ["Database", "NodeInfo", "open_database"]
