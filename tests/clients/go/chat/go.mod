module llm-observer-e2e/chat

go 1.17
