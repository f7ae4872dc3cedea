//! A deployed stack's outputs: from CloudFormation (`DescribeStacks`, works on AWS and
//! LocalStack alike) or from a `KEY=VALUE` file such as `build/stack-outputs.env`.

use std::collections::HashMap;

/// Why the stack could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// No such stack, or it has no outputs.
    #[error("stack `{0}` was not found; deploy it (`make deploy-local`, or `sam deploy`) or name another with --stack")]
    NotFound(String),
    /// CloudFormation could not be asked (credentials, endpoint, region).
    #[error("could not read stack `{stack}` from CloudFormation: {reason}; check AWS credentials, region and AWS_ENDPOINT_URL")]
    Unreachable {
        /// The stack.
        stack: String,
        /// What the SDK said.
        reason: String,
    },
    /// The outputs file is missing or unreadable.
    #[error("cannot read outputs file {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// An output the command needs is missing.
    #[error("stack `{stack}` has no output `{key}`; is it an eventkit stack, deployed from this version of infra/template.yaml?")]
    MissingOutput {
        /// The stack.
        stack: String,
        /// The output.
        key: String,
    },
}

/// A stack: its name and outputs.
#[derive(Debug, Clone)]
pub struct Stack {
    /// The stack name (functions are named `<stack>-<function>`).
    pub name: String,
    /// Outputs by key.
    pub outputs: HashMap<String, String>,
}

impl Stack {
    /// Reads the outputs of `name` from CloudFormation.
    pub async fn describe(
        cfn: &aws_sdk_cloudformation::Client,
        name: &str,
    ) -> Result<Stack, StackError> {
        let out = cfn
            .describe_stacks()
            .stack_name(name)
            .send()
            .await
            .map_err(|e| {
                let text = aws_sdk_cloudformation::error::DisplayErrorContext(&e).to_string();
                if text.contains("does not exist") {
                    StackError::NotFound(name.to_owned())
                } else {
                    StackError::Unreachable {
                        stack: name.to_owned(),
                        reason: text,
                    }
                }
            })?;
        let stack = out
            .stacks()
            .first()
            .ok_or_else(|| StackError::NotFound(name.to_owned()))?;
        let outputs = stack
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
            .collect();
        Ok(Stack {
            name: name.to_owned(),
            outputs,
        })
    }

    /// Reads `KEY=VALUE` lines.
    pub fn from_file(name: &str, path: &str) -> Result<Stack, StackError> {
        let text = std::fs::read_to_string(path).map_err(|e| StackError::File {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        let outputs = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
            .collect();
        Ok(Stack {
            name: name.to_owned(),
            outputs,
        })
    }

    /// One output.
    pub fn output(&self, key: &str) -> Result<&str, StackError> {
        self.outputs
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| StackError::MissingOutput {
                stack: self.name.clone(),
                key: key.to_owned(),
            })
    }
}

/// The stack's SQS queues, URL by logical id (`ListStackResources`).
pub async fn queues(
    cfn: &aws_sdk_cloudformation::Client,
    stack: &str,
) -> Result<HashMap<String, String>, StackError> {
    let mut queues = HashMap::new();
    let mut token: Option<String> = None;
    loop {
        let page = cfn
            .list_stack_resources()
            .stack_name(stack)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| StackError::Unreachable {
                stack: stack.to_owned(),
                reason: aws_sdk_cloudformation::error::DisplayErrorContext(&e).to_string(),
            })?;
        for r in page.stack_resource_summaries() {
            if r.resource_type() == Some("AWS::SQS::Queue") {
                if let (Some(id), Some(url)) = (r.logical_resource_id(), r.physical_resource_id()) {
                    queues.insert(id.to_owned(), url.to_owned());
                }
            }
        }
        match page.next_token() {
            Some(t) => token = Some(t.to_owned()),
            None => return Ok(queues),
        }
    }
}

impl Stack {
    /// The queues named by the outputs (keys ending in `Url` whose value is a queue URL),
    /// for a stack read from a file.
    pub fn output_queues(&self) -> HashMap<String, String> {
        self.outputs
            .iter()
            .filter(|(k, v)| {
                k.ends_with("Url") && v.contains("/queue")
                    || k.ends_with("Url") && v.contains("sqs.")
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}
