"""The write pipeline (group commit): messages queue, one writer stores them in batches."""

from chat_service.pipeline.writer import Pending, Stored, WritePipeline

__all__ = ["Pending", "Stored", "WritePipeline"]
