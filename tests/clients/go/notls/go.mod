module llm-observer-e2e/notls

go 1.17
