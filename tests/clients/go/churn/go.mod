module llm-observer-e2e/churn

go 1.17
