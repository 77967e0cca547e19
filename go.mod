module github.com/userflow-sync/userflow-sync

go 1.26.0
