"""Settings from the environment (ORDERMESH_*). Nothing connects when this is imported."""

from __future__ import annotations

from pydantic import PositiveFloat, PositiveInt
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERMESH_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///ordermesh.db"
    db_pool_size: int = 10
    log_level: str = "INFO"
    page_size_max: int = 200
    retailer_name: str = "Ordermesh retailer"  # the buyer named on purchase orders
    # The worker's timed jobs (`ordermesh worker`, or `ordermesh serve --with-worker`).
    worker_expire_cart_holds_seconds: PositiveFloat = 30.0
    worker_batch_size: PositiveInt = 200  # rows per transaction in a job
