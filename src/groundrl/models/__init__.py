"""Model families and tiny offline models. `families` is pure; `tiny` imports torch and transformers."""

from groundrl.models.families import FAMILIES, Family, UnknownFamilyError, get_family

__all__ = ["FAMILIES", "Family", "UnknownFamilyError", "get_family"]
