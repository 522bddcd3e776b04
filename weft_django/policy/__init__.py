"""Policies: rules that refuse, hold for approval, cap, route or rank the tasks they match.

The pure part (no Django) parses and checks rules (``schema``), matches them and resolves their effects
(``engine``); ``yamlfile`` reads a policy file keeping line numbers; ``store`` gathers the rules in force
(built-ins, WEFT_POLICIES, WEFT_POLICY_FILE, Policy rows); ``lifecycle/policing.py`` applies them at
submission and records what they did. docs/governance.md describes the rules.
"""
