"""Developer tools: the mock OpenAI-compatible provider (`oggy up --demo`, tests, bench)."""
