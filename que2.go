package qg

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrNeedsQue2 is wrapped by the enqueue methods for a job with Kwargs,
// Tags or Data on a Ruby Que 0.x table, which has no columns for them.
var ErrNeedsQue2 = errors.New("qg: Kwargs, Tags and Data need a Ruby Que 2.x table (que_jobs schema version 7)")

// ErrInvalidTags is wrapped by the enqueue methods for a job whose Tags
// Ruby Que 2 or its table would refuse: more than 5, a tag longer than 100
// characters of JSON text, or tags both in Tags and in Data.
var ErrInvalidTags = errors.New("qg: invalid job tags")

// ForJobSchemaVersion returns a Client on the same pool that locks and
// enqueues the rows of job_schema_version v of a Ruby Que 2.x table. Ruby Que
// 2 and the Client of [NewClient2] work version 2 only; rows Que 1.x
// enqueued (version 1, their keyword arguments still inside args) stay
// untouched otherwise. To drain them, run a Worker or WorkerPool on
// ForJobSchemaVersion(1) with WorkFuncs that read Que 1.x's args, until
// [Client.QueueCounts] shows none left. The returned Client shares nothing
// with c but the pool: close it on its own. On a Que 0.x table it returns
// an error wrapping ErrSchemaVersion.
func (c *Client) ForJobSchemaVersion(v int) (*Client, error) {
	if _, ok := c.d.(que2Table); !ok {
		return nil, fmt.Errorf("%w: job_schema_version is a column of the Ruby Que 2.x table; this one is %s",
			ErrSchemaVersion, c.d.name())
	}
	return newClientOn(c.pool, que2Table{jobSchemaVersion: v}), nil
}

// SchemaVersion is the Que schema version of the que_jobs table the Client
// works, read from the table's comment when the Client was made: 3 for Ruby
// Que 0.x's table, 7 for Ruby Que 2.x's.
func (c *Client) SchemaVersion() int {
	v, _ := strconv.Atoi(c.d.version())
	return v
}
