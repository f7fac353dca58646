"""Self-hosted, GDPR-first live chat for EU websites."""

from chat_service.errors import ChatError
from chat_service.settings import Settings, SettingsError, load_settings

__all__ = ["ChatError", "Settings", "SettingsError", "load_settings"]
__version__ = "0.1.0"
