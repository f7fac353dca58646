"""Files attached to conversations: checked by content, cleaned, encrypted in chunks."""

from chat_service.attachments.content import KINDS, CleanFile, display_name, inspect_file
from chat_service.attachments.files import Attachments, read_file

__all__ = ["KINDS", "Attachments", "CleanFile", "display_name", "inspect_file", "read_file"]
