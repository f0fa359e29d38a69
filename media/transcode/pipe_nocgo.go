//go:build !cgo || notranscode

package transcode

const built = false

func openPipe(Params) (pipe, error) { return nil, ErrNotBuilt }
