module github.com/latchkey/latchkey/libs/devinfra

go 1.26
