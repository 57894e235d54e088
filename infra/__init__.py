"""Infrastructure: the CloudFormation template and the embedded local AWS built from it."""
