"""The offline engine: runs the real Pulumi program under the SDK's mocks (no CLI, no cloud) and
writes what `pulumi preview --json` would print, so every gate can judge a stack on a fresh machine."""
