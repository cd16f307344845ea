"""TradeSense CrossGuard policies: the registry, the rules by domain, waivers and the pack."""
