module streamedge

go 1.26.8

require (
	github.com/yutopp/go-rtmp v0.0.7
	gopkg.in/yaml.v3 v3.0.1
)

require github.com/pkg/errors v0.9.1 // indirect
