"""Conservation-law discovery: certified law counts (Lie-algebra rank) and polynomial law search.

Named ``laws`` rather than ``discover`` so that the package never shadows the function
``verify.discover``."""

from verify.laws.discovery import DiscoveryResult, discover

__all__ = ["discover", "DiscoveryResult"]
