module github.com/latchkey/latchkey/services/identity

go 1.26

require (
	github.com/latchkey/latchkey/libs/platform v0.0.0
	github.com/latchkey/latchkey/libs/devinfra v0.0.0
)

replace (
	github.com/latchkey/latchkey/libs/platform => ../../libs/platform
	github.com/latchkey/latchkey/libs/devinfra => ../../libs/devinfra
)
