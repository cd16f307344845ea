"""The change review of a pull request: what it creates, updates, replaces and deletes, what data it
would destroy, and which policy violations and waivers it adds or removes.

    python -m scripts.review --base origin/main [--stack prod]     # offline: base worktree vs working tree
    python -m scripts.review --preview preview.json                # a real `pulumi preview --json --show-sames`

Modules:
- `changed_stacks`: which stacks a pull request touches, for the workflow's matrix;
- `build`: the base worktree; `previews`: the two previews in parallel, forked from one warm helper;
- `plan`: the change plan, offline diff or the engine's; `replacements`: ForceNew inputs per stateful
  type, cited from terraform-provider-aws;
- `guard`: data-loss findings and change waivers; `policy_delta`: violations and waivers introduced,
  fixed, unchanged;
- `render`: terminal, pull-request comment, JSON.
Exit codes: 0 nothing blocking, 1 blocked (data loss not waived, or a new unwaived mandatory
violation), 2 bad input (bad ref, not a git repository, unusable preview), one line.
"""
