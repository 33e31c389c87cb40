package gandi

import (
	"errors"
	"fmt"
	"strings"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/xmlrpc"
)

// objectCodes are the three middle digits of a faultCode (D2).
var objectCodes = map[api.Object]int{
	api.ObjUnknown: 0, api.ObjString: 12, api.ObjAccount: 101, api.ObjHosting: 300,
	api.ObjVM: 301, api.ObjIface: 302, api.ObjIP: 303, api.ObjDisk: 304, api.ObjVLAN: 305,
	api.ObjSSHKey: 306, api.ObjImage: 307, api.ObjDatacenter: 308, api.ObjOperation: 309,
	api.ObjAPIKey: 310, api.ObjCoupon: 311, api.ObjTrial: 312, api.ObjSnapshotProfile: 313,
	api.ObjMetric: 314,
}

// cause is the last two digits of a faultCode and its name.
type cause struct {
	code int
	name string
}

// causes maps service error codes to Gandi causes. BADPARAMETER (37), ATTACHED (39),
// DONTEXIST (40), NOTFOUND (42) and NORIGHT (50) are real; BADSTATE (38) and UNAVAILABLE
// (41) and NOACCESS (51: the account has no API access, 510151) are this project's.
var causes = map[api.Code]cause{
	api.BadKey:      {37, "BADPARAMETER"},
	api.Invalid:     {37, "BADPARAMETER"},
	api.Conflict:    {38, "BADSTATE"},
	api.Attached:    {39, "ATTACHED"},
	api.NoCredit:    {40, "DONTEXIST"},
	api.Unavailable: {41, "UNAVAILABLE"},
	api.NotFound:    {42, "NOTFOUND"},
	api.NoRight:     {50, "NORIGHT"},
	api.NoAccess:    {51, "NOACCESS"},
}

// InternalFault is the faultCode of an internal error (qualification 1, server).
const InternalFault = 150000

// Fault maps any error to a Gandi fault: the only such table.
func Fault(err error) xmlrpc.Fault {
	var f *xmlrpc.Fault
	if errors.As(err, &f) {
		return *f
	}
	var pe *xmlrpc.ParamError
	if errors.As(err, &pe) {
		return Fault(api.Errorf(api.Invalid, api.ObjUnknown, "%s", pe.Error()))
	}
	ae := api.AsError(err)
	if ae == nil || ae.Code == api.Internal {
		return xmlrpc.Fault{Code: InternalFault, String: "Error on object : OBJECT_UNKNOWN (CAUSE_UNKNOWN) [internal error]"}
	}
	c := causes[ae.Code]
	obj := ae.Object
	oc, ok := objectCodes[obj]
	if !ok {
		obj, oc = api.ObjUnknown, 0
	}
	return xmlrpc.Fault{
		Code:   500000 + oc*100 + c.code,
		String: fmt.Sprintf("Error on object : OBJECT_%s (CAUSE_%s) [%s]", strings.ToUpper(string(obj)), c.name, ae.Message),
	}
}
