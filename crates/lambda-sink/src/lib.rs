//! lambda-sink: adapters (Kafka, AWS Lambda), orchestration and the CLI's commands.
