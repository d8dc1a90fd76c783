//go:build tools

// Package tools only records that this module builds influxd; the binary is built with
//
//	go build github.com/influxdata/influxdb/cmd/influxd
//
// from this directory (see ../install.sh).
package tools

import _ "github.com/influxdata/influxdb/cmd/influxd"
