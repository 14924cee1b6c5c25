from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Every target model: unknown fields are errors and loaded targets never change."""

    model_config = ConfigDict(extra="forbid", frozen=True)
