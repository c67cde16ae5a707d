/*
 * test_class_header.c - the code/ class header parser (lib/module/class_header.c)
 * on text copied from real archives (PyTorch 1.13 and older writers) and on
 * hostile input.  Every input is copied into a buffer of exactly its length
 * so that AddressSanitizer sees any read past the end.
 */
#include "config.h"

#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "../lib/archive/archive.h"
#include "../lib/module/class_header.h"
#include "../lib/zip/zip.h"

/* ------------------------------------------------------------------------ */
/* Inputs copied byte for byte from real archives                            */
/* ------------------------------------------------------------------------ */

/* __torch__/torch/nn/modules/linear.py */
static const char LINEAR[] =
	"class Linear(Module):\n"
	"  __parameters__ = [\"weight\", \"bias\", ]\n"
	"  __buffers__ = []\n"
	"  weight : Tensor\n"
	"  bias : Tensor\n"
	"  training : bool\n"
	"  _is_full_backward_hook : NoneType\n"
	"  out_features : Final[int] = 2\n"
	"  in_features : Final[int] = 3\n"
	"  def forward(self: __torch__.torch.nn.modules.linear.Linear,\n"
	"    input: Tensor) -> Tensor:\n"
	"    weight = self.weight\n"
	"    bias = self.bias\n"
	"    return torch.linear(input, weight, bias)\n";

/* __torch__/torch/nn/modules/container.py */
static const char SEQ[] =
	"class Sequential(Module):\n"
	"  __parameters__ = []\n"
	"  __buffers__ = []\n"
	"  training : bool\n"
	"  _is_full_backward_hook : NoneType\n"
	"  __annotations__[\"0\"] = __torch__.torch.nn.modules.linear.___torch_mangle_0.Linear\n"
	"  __annotations__[\"1\"] = __torch__.torch.nn.modules.activation.ReLU\n"
	"  __annotations__[\"2\"] = __torch__.torch.nn.modules.linear.___torch_mangle_1.Linear\n"
	"  def forward(self: __torch__.torch.nn.modules.container.Sequential,\n"
	"    input: Tensor) -> Tensor:\n"
	"    _0 = getattr(self, \"0\")\n"
	"    _1 = getattr(self, \"1\")\n"
	"    _2 = getattr(self, \"2\")\n"
	"    input0 = (_0).forward(input, )\n"
	"    input1 = (_1).forward(input0, )\n"
	"    return (_2).forward(input1, )\n"
	"  def __len__(self: __torch__.torch.nn.modules.container.Sequential) -> int:\n"
	"    return 3\n";

/* __torch__/torch/nn/modules/rnn.py */
static const char LSTM[] =
	"class LSTM(Module):\n"
	"  __parameters__ = [\"weight_ih_l0\", \"weight_hh_l0\", \"bias_ih_l0\", \"bias_hh_l0\", \"weight_ih_l1\", \"weight_hh_l1\", \"bias_ih_l1\", \"bias_hh_l1\", ]\n"
	"  __buffers__ = []\n"
	"  weight_ih_l0 : Tensor\n"
	"  weight_hh_l0 : Tensor\n"
	"  bias_ih_l0 : Tensor\n"
	"  bias_hh_l0 : Tensor\n"
	"  weight_ih_l1 : Tensor\n"
	"  weight_hh_l1 : Tensor\n"
	"  bias_ih_l1 : Tensor\n"
	"  bias_hh_l1 : Tensor\n"
	"  training : bool\n"
	"  _is_full_backward_hook : NoneType\n"
	"  _flat_weights_names : List[str]\n"
	"  _all_weights : List[List[str]]\n"
	"  _flat_weights : List[Tensor]\n"
	"  num_layers : Final[int] = 2\n"
	"  bias : Final[bool] = True\n"
	"  dropout : Final[float] = 0.\n"
	"  batch_first : Final[bool] = False\n"
	"  bidirectional : Final[bool] = False\n"
	"  hidden_size : Final[int] = 8\n"
	"  mode : Final[str] = \"LSTM\"\n"
	"  proj_size : Final[int] = 0\n"
	"  input_size : Final[int] = 4\n"
	"  def forward__0(self: __torch__.torch.nn.modules.rnn.LSTM,\n"
	"    input: Tensor,\n"
	"    hx: Optional[Tuple[Tensor, Tensor]]=None) -> Tuple[Tensor, Tuple[Tensor, Tensor]]:\n"
	"    _0 = \"For batched 3-D input, hx and cx should also be 3-D but got ({}-D, {}-D) tensors\"\n"
	"    _1 = \"For unbatched 2-D input, hx and cx should also be 2-D but got ({}-D, {}-D) tensors\"\n"
	"    is_batched = torch.eq(torch.dim(input), 3)\n"
	"    if torch.__not__(is_batched):\n"
	"      input0 = torch.unsqueeze(input, 1)\n"
	"    else:\n"
	"      input0 = input\n"
	"    max_batch_size = torch.size(input0, 1)\n"
	"    if torch.__is__(hx, None):\n"
	"      _2 = ops.prim.dtype(input0)\n"
	"      _3 = ops.prim.device(input0)\n"
	"      h_zeros = torch.zeros([2, max_batch_size, 8], dtype=_2, layout=None, device=_3)\n"
	"      _4 = ops.prim.dtype(input0)\n"
	"      _5 = ops.prim.device(input0)\n"
	"      c_zeros = torch.zeros([2, max_batch_size, 8], dtype=_4, layout=None, device=_5)\n"
	"      hx0 = (h_zeros, c_zeros)\n"
	"    else:\n"
	"      hx1 = unchecked_cast(Tuple[Tensor, Tensor], hx)\n"
	"      if is_batched:\n"
	"        _6 = torch.ne(torch.dim((hx1)[0]), 3)\n"
	"        if _6:\n"
	"          _7 = True\n"
	"        else:\n"
	"          _8 = torch.ne(torch.dim((hx1)[1]), 3)\n"
	"          _7 = _8\n"
	"        if _7:\n"
	"          msg = torch.format(_0, torch.dim((hx1)[0]), torch.dim((hx1)[1]))\n"
	"          ops.prim.RaiseException(msg, \"builtins.RuntimeError\")\n"
	"        else:\n"
	"          pass\n"
	"        hx2 = hx1\n"
	"      else:\n"
	"        _9 = torch.ne(torch.dim((hx1)[0]), 2)\n"
	"        if _9:\n"
	"          _10 = True\n"
	"        else:\n"
	"          _11 = torch.ne(torch.dim((hx1)[1]), 2)\n"
	"          _10 = _11\n"
	"        if _10:\n"
	"          msg0 = torch.format(_1, torch.dim((hx1)[0]), torch.dim((hx1)[1]))\n"
	"          ops.prim.RaiseException(msg0, \"builtins.RuntimeError\")\n"
	"        else:\n"
	"          pass\n"
	"        hx3 = (torch.unsqueeze((hx1)[0], 1), torch.unsqueeze((hx1)[1], 1))\n"
	"        hx2 = hx3\n"
	"      hx4 = (self).permute_hidden(hx2, None, )\n"
	"      hx0 = hx4\n"
	"    _12 = (self).check_forward_args(input0, hx0, None, )\n"
	"    _flat_weights = self._flat_weights\n"
	"    training = self.training\n"
	"    _13, _14, = hx0\n"
	"    _15, _16, _17 = torch.lstm(input0, [_13, _14], _flat_weights, True, 2, 0., training, False, False)\n"
	"    hidden = (_16, _17)\n"
	"    if torch.__not__(is_batched):\n"
	"      output0 = torch.squeeze(_15, 1)\n"
	"      hidden1 = (torch.squeeze(_16, 1), torch.squeeze(_17, 1))\n"
	"      hidden0, output = hidden1, output0\n"
	"    else:\n"
	"      hidden0, output = hidden, _15\n"
	"    _18 = (self).permute_hidden(hidden0, None, )\n"
	"    return (output, _18)\n"
	"  def forward__1(self: __torch__.torch.nn.modules.rnn.LSTM,\n"
	"    input: __torch__.torch.nn.utils.rnn.PackedSequence,\n"
	"    hx: Optional[Tuple[Tensor, Tensor]]=None) -> Tuple[__torch__.torch.nn.utils.rnn.PackedSequence, Tuple[Tensor, Tensor]]:\n"
	"    input1, batch_sizes, sorted_indices, unsorted_indices, = input\n"
	"    max_batch_size = torch.select(batch_sizes, 0, 0)\n"
	"    max_batch_size0 = int(max_batch_size)\n"
	"    if torch.__is__(hx, None):\n"
	"      _19 = ops.prim.dtype(input1)\n"
	"      _20 = ops.prim.device(input1)\n"
	"      h_zeros = torch.zeros([2, max_batch_size0, 8], dtype=_19, layout=None, device=_20)\n"
	"      _21 = ops.prim.dtype(input1)\n"
	"      _22 = ops.prim.device(input1)\n"
	"      c_zeros = torch.zeros([2, max_batch_size0, 8], dtype=_21, layout=None, device=_22)\n"
	"      hx5 = (h_zeros, c_zeros)\n"
	"    else:\n"
	"      hx6 = unchecked_cast(Tuple[Tensor, Tensor], hx)\n"
	"      hx7 = (self).permute_hidden(hx6, sorted_indices, )\n"
	"      hx5 = hx7\n"
	"    _23 = (self).check_forward_args(input1, hx5, batch_sizes, )\n"
	"    _flat_weights = self._flat_weights\n"
	"    training = self.training\n"
	"    _24, _25, = hx5\n"
	"    _26, _27, _28 = torch.lstm(input1, batch_sizes, [_24, _25], _flat_weights, True, 2, 0., training, False)\n"
	"    hidden = (_27, _28)\n"
	"    output_packed = __torch__.torch.nn.utils.rnn.PackedSequence(_26, batch_sizes, sorted_indices, unsorted_indices)\n"
	"    _29 = (self).permute_hidden(hidden, unsorted_indices, )\n"
	"    return (output_packed, _29)\n"
	"  def permute_hidden(self: __torch__.torch.nn.modules.rnn.LSTM,\n"
	"    hx: Tuple[Tensor, Tensor],\n"
	"    permutation: Optional[Tensor]) -> Tuple[Tensor, Tensor]:\n"
	"    _30 = __torch__.torch.nn.modules.rnn._apply_permutation\n"
	"    if torch.__is__(permutation, None):\n"
	"      _31 = hx\n"
	"    else:\n"
	"      permutation0 = unchecked_cast(Tensor, permutation)\n"
	"      _32 = (_30((hx)[0], permutation0, 1, ), _30((hx)[1], permutation0, 1, ))\n"
	"      _31 = _32\n"
	"    return _31\n"
	"  def check_forward_args(self: __torch__.torch.nn.modules.rnn.LSTM,\n"
	"    input: Tensor,\n"
	"    hidden: Tuple[Tensor, Tensor],\n"
	"    batch_sizes: Optional[Tensor]) -> NoneType:\n"
	"    _33 = \"Expected hidden[0] size {}, got {}\"\n"
	"    _34 = \"Expected hidden[1] size {}, got {}\"\n"
	"    _35 = (self).check_input(input, batch_sizes, )\n"
	"    _36 = (hidden)[0]\n"
	"    _37 = (self).get_expected_hidden_size(input, batch_sizes, )\n"
	"    _38 = (self).check_hidden_size(_36, _37, _33, )\n"
	"    _39 = (hidden)[1]\n"
	"    _40 = (self).get_expected_cell_size(input, batch_sizes, )\n"
	"    _41 = (self).check_hidden_size(_39, _40, _34, )\n"
	"    return None\n"
	"  def check_input(self: __torch__.torch.nn.modules.rnn.LSTM,\n"
	"    input: Tensor,\n"
	"    batch_sizes: Optional[Tensor]) -> NoneType:\n"
	"    _42 = \"input must have {} dimensions, got {}\"\n"
	"    _43 = \"input.size(-1) must be equal to input_size. Expected {}, got {}\"\n"
	"    if torch.__isnot__(batch_sizes, None):\n"
	"      expected_input_dim = 2\n"
	"    else:\n"
	"      expected_input_dim = 3\n"
	"    _44 = torch.ne(torch.dim(input), expected_input_dim)\n"
	"    if _44:\n"
	"      _45 = torch.format(_42, expected_input_dim, torch.dim(input))\n"
	"      ops.prim.RaiseException(_45, \"builtins.RuntimeError\")\n"
	"    else:\n"
	"      pass\n"
	"    if torch.ne(4, torch.size(input, -1)):\n"
	"      _46 = torch.format(_43, 4, torch.size(input, -1))\n"
	"      ops.prim.RaiseException(_46, \"builtins.RuntimeError\")\n"
	"    else:\n"
	"      pass\n"
	"    return None\n"
	"  def check_hidden_size(self: __torch__.torch.nn.modules.rnn.LSTM,\n"
	"    hx: Tensor,\n"
	"    expected_hidden_size: Tuple[int, int, int],\n"
	"    msg: str=\"Expected hidden size {}, got {}\") -> NoneType:\n"
	"    _47 = torch.size(hx)\n"
	"    _48, _49, _50, = expected_hidden_size\n"
	"    if torch.ne(_47, [_48, _49, _50]):\n"
	"      _51 = torch.format(msg, expected_hidden_size, torch.list(torch.size(hx)))\n"
	"      ops.prim.RaiseException(_51, \"builtins.RuntimeError\")\n"
	"    else:\n"
	"      pass\n"
	"    return None\n"
	"  def get_expected_hidden_size(self: __torch__.torch.nn.modules.rnn.LSTM,\n"
	"    input: Tensor,\n"
	"    batch_sizes: Optional[Tensor]) -> Tuple[int, int, int]:\n"
	"    if torch.__isnot__(batch_sizes, None):\n"
	"      batch_sizes0 = unchecked_cast(Tensor, batch_sizes)\n"
	"      mini_batch0 = int(torch.select(batch_sizes0, 0, 0))\n"
	"      mini_batch = mini_batch0\n"
	"    else:\n"
	"      mini_batch = torch.size(input, 1)\n"
	"    return (2, mini_batch, 8)\n"
	"  def get_expected_cell_size(self: __torch__.torch.nn.modules.rnn.LSTM,\n"
	"    input: Tensor,\n"
	"    batch_sizes: Optional[Tensor]) -> Tuple[int, int, int]:\n"
	"    if torch.__isnot__(batch_sizes, None):\n"
	"      batch_sizes1 = unchecked_cast(Tensor, batch_sizes)\n"
	"      mini_batch1 = int(torch.select(batch_sizes1, 0, 0))\n"
	"      mini_batch = mini_batch1\n"
	"    else:\n"
	"      mini_batch = torch.size(input, 1)\n"
	"    return (2, mini_batch, 8)\n"
	"def _apply_permutation(tensor: Tensor,\n"
	"    permutation: Tensor,\n"
	"    dim: int=1) -> Tensor:\n"
	"  _52 = torch.index_select(tensor, dim, permutation)\n"
	"  return _52\n";

/* __torch__.py */
static const char WEIRD[] =
	"class Weird(Module):\n"
	"  __parameters__ = [\"p\", ]\n"
	"  __buffers__ = [\"buf\", ]\n"
	"  p : Tensor\n"
	"  buf : Tensor\n"
	"  training : bool\n"
	"  _is_full_backward_hook : NoneType\n"
	"  d : Dict[str, int]\n"
	"  o : Optional[bool]\n"
	"  t : Tuple[int, str]\n"
	"  lst : List[float]\n"
	"  color : int\n"
	"  sub : __torch__.torch.nn.modules.linear.___torch_mangle_38.Linear\n"
	"  def forward(self: __torch__.Weird,\n"
	"    x: Tensor,\n"
	"    y: Optional[Tensor]=None,\n"
	"    s: str=\"a,b)]\",\n"
	"    l: Tuple[int, int]=(1, 2),\n"
	"    f: float=1.0000000000000001e-05) -> Tuple[Tensor, Tensor]:\n"
	"    if torch.__is__(y, None):\n"
	"      _0 = (x, x)\n"
	"    else:\n"
	"      y0 = unchecked_cast(Tensor, y)\n"
	"      _0 = (torch.add(x, y0), x)\n"
	"    return _0\n"
	"  def infer(self: __torch__.Weird,\n"
	"    x: int) -> int:\n"
	"    return torch.add(x, 1)\n"
	"  def none_ret(self: __torch__.Weird) -> NoneType:\n"
	"    return None\n"
	"  def noret(self: __torch__.Weird,\n"
	"    x: Tensor) -> NoneType:\n"
	"    print(x)\n"
	"    return None\n";

/* __torch__.py */
static const char HOOKS[] =
	"class Hk(Module):\n"
	"  __parameters__ = []\n"
	"  __buffers__ = []\n"
	"  __forward_pre_hooks__ = [\"pre\", ]\n"
	"  __forward_hooks__ = [\"post\", ]\n"
	"  training : bool\n"
	"  _is_full_backward_hook : Optional[bool]\n"
	"  l : __torch__.torch.nn.modules.linear.___torch_mangle_38.Linear\n"
	"  def forward(self: __torch__.Hk,\n"
	"    x: Tensor) -> Tensor:\n"
	"    l = self.l\n"
	"    return (l).forward(x, )\n"
	"  def post(m: __torch__.Hk,\n"
	"    inp: Tuple[Tensor],\n"
	"    out: Tensor) -> NoneType:\n"
	"    return None\n"
	"  def pre(m: __torch__.Hk,\n"
	"    inp: Tuple[Tensor]) -> NoneType:\n"
	"    return None\n";

/* __torch__.py */
static const char STATE[] =
	"class St(Module):\n"
	"  __parameters__ = []\n"
	"  __buffers__ = []\n"
	"  training : bool\n"
	"  _is_full_backward_hook : Optional[bool]\n"
	"  a : int\n"
	"  w : Tensor\n"
	"  def forward(self: __torch__.St,\n"
	"    x: Tensor) -> Tensor:\n"
	"    w = self.w\n"
	"    return torch.mul(x, w)\n"
	"  def __getstate__(self: __torch__.St) -> Tuple[int, Tensor, bool]:\n"
	"    a = self.a\n"
	"    w = self.w\n"
	"    training = self.training\n"
	"    return (a, w, training)\n"
	"  def __setstate__(self: __torch__.St,\n"
	"    s: Tuple[int, Tensor, bool]) -> NoneType:\n"
	"    self.a = (s)[0]\n"
	"    self.w = (s)[1]\n"
	"    self.training = (s)[2]\n"
	"    return None\n";

/* __torch__.py */
static const char IFACE[] =
	"class UseIface(Module):\n"
	"  __parameters__ = []\n"
	"  __buffers__ = []\n"
	"  training : bool\n"
	"  _is_full_backward_hook : NoneType\n"
	"  sub : __torch__.ModIface\n"
	"  def forward(self: __torch__.UseIface,\n"
	"    x: Tensor) -> Tensor:\n"
	"    sub = self.sub\n"
	"    return (sub).forward(x, )\n"
	"class Impl(Module):\n"
	"  __parameters__ = []\n"
	"  __buffers__ = []\n"
	"  training : bool\n"
	"  _is_full_backward_hook : Optional[bool]\n"
	"  def forward(self: __torch__.Impl,\n"
	"    x: Tensor) -> Tensor:\n"
	"    return x\n"
	"class ModIface(ModuleInterface):\n"
	"  def forward(self, x: Tensor) -> Tensor:\n"
	"    pass\n";

/* __torch__.py */
static const char ENUMS[] =
	"class M(Module):\n"
	"  __parameters__ = []\n"
	"  __buffers__ = []\n"
	"  training : bool\n"
	"  _is_full_backward_hook : Optional[bool]\n"
	"  c : __torch__.Color\n"
	"  u : int\n"
	"  anyv : int\n"
	"  dev : Device\n"
	"  nt : Tuple[int, float, str]\n"
	"  impl : __torch__.Impl\n"
	"  def forward(self: __torch__.M,\n"
	"    x: Tensor,\n"
	"    c: __torch__.Color,\n"
	"    n: __torch__.Name=__torch__.Name.A,\n"
	"    f: __torch__.Fl=__torch__.Fl.P) -> Tuple[Tensor, __torch__.NTD]:\n"
	"    def __forked_function():\n"
	"      return torch.neg(x)\n"
	"    fut = fork(__forked_function)\n"
	"    y = torch.wait(fut)\n"
	"    if torch.eq(c, __torch__.Color.GREEN):\n"
	"      _0 = torch.eq(n, __torch__.Name.B)\n"
	"    else:\n"
	"      _0 = False\n"
	"    if _0:\n"
	"      _2 = (y, __torch__.NTD(1, 2.5, \"q, ]\"))\n"
	"      _1 = _2\n"
	"    else:\n"
	"      impl = self.impl\n"
	"      _3 = ((impl).run(x, {\"a\": 1}, ), __torch__.NTD(2, 3., \"q, ]\"))\n"
	"      _1 = _3\n"
	"    return _1\n"
	"  def dev_fn(self: __torch__.M,\n"
	"    d: Device,\n"
	"    u: Union[List[int], int],\n"
	"    a: Any,\n"
	"    z: complex=0.+1.j,\n"
	"    s: str=\"a\\'b\\\"c\\\\\") -> Optional[Device]:\n"
	"    return d\n"
	"  def fut(self: __torch__.M,\n"
	"    x: Tensor) -> Future[Tensor]:\n"
	"    def __forked_function():\n"
	"      return torch.neg(x)\n"
	"    _4 = fork(__forked_function)\n"
	"    return _4\n"
	"class Impl:\n"
	"  def __init__(self: __torch__.Impl) -> NoneType:\n"
	"    return None\n"
	"  def run(self: __torch__.Impl,\n"
	"    x: Tensor,\n"
	"    y: Dict[str, int]) -> Tensor:\n"
	"    return x\n"
	"class Color(Enum):\n"
	"  RED = 1\n"
	"  GREEN = 2\n"
	"class Name(Enum):\n"
	"  A = \"a,b]\"\n"
	"  B = \"x\"\n"
	"class Fl(Enum):\n"
	"  P = 1.5\n"
	"class NTD(NamedTuple):\n"
	"  a : int\n"
	"  b : float\n"
	"  c : str\n";

/* __torch__.py */
static const char PLAIN[] =
	"class UsePlain(Module):\n"
	"  __parameters__ = []\n"
	"  __buffers__ = []\n"
	"  training : bool\n"
	"  _is_full_backward_hook : Optional[bool]\n"
	"  pl : __torch__.Plain\n"
	"  def forward(self: __torch__.UsePlain,\n"
	"    x: Tensor) -> Tensor:\n"
	"    pl = self.pl\n"
	"    return torch.add(x, (pl).get())\n"
	"class Plain:\n"
	"  a : int\n"
	"  b : List[int]\n"
	"  def __init__(self: __torch__.Plain,\n"
	"    a: int) -> NoneType:\n"
	"    self.a = a\n"
	"    self.b = [a]\n"
	"    return None\n"
	"  def get(self: __torch__.Plain) -> int:\n"
	"    return self.a\n";

/* __torch__/torch/nn/utils/rnn.py */
static const char PACKED[] =
	"class PackedSequence(NamedTuple):\n"
	"  data : Tensor\n"
	"  batch_sizes : Tensor\n"
	"  sorted_indices : Optional[Tensor]\n"
	"  unsorted_indices : Optional[Tensor]\n";

/* __torch__/torch/jit/___torch_mangle_221.py */
static const char LEGACY_SEQ[] =
	"op_version_set = 1\n"
	"import __torch__.torch.nn.modules.dropout\n"
	"import __torch__.torch.nn.quantized.modules.linear\n"
	"class _ConstSequential(Module):\n"
	"  __parameters__ = []\n"
	"  __annotations__ = []\n"
	"  __annotations__[\"0\"] = __torch__.torch.nn.modules.dropout.Dropout\n"
	"  __annotations__[\"1\"] = __torch__.torch.nn.quantized.modules.linear.Linear\n"
	"  def forward(self: __torch__.torch.jit.___torch_mangle_221._ConstSequential,\n"
	"    input: Tensor) -> Tensor:\n"
	"    _0 = getattr(self, \"0\")\n"
	"    _1 = getattr(self, \"1\")\n"
	"    _2 = _0.training\n"
	"    if torch.lt(0.20000000000000001, 0.):\n"
	"      _3 = True\n"
	"    else:\n"
	"      _3 = torch.gt(0.20000000000000001, 1.)\n"
	"    if _3:\n"
	"      ops.prim.RaiseException(\"Exception\")\n"
	"    else:\n"
	"      pass\n"
	"    if False:\n"
	"      input0 = torch.dropout_(input, 0.20000000000000001, _2)\n"
	"    else:\n"
	"      input0 = torch.dropout(input, 0.20000000000000001, _2)\n"
	"    input1 = ops.quantized.linear(input0, _1._packed_params, _1.scale, _1.zero_point)\n"
	"    return input1\n";

/* foo.py */
static const char G1_FOO[] =
	"op_version_set = 0\n"
	"def forward(self,\n"
	"    x: Tensor,\n"
	"    y: Tensor) -> Tensor:\n"
	"  _0 = torch.add(torch.mul(x, 2), y, alpha=1)\n"
	"  return torch.add(_0, self.value, alpha=1)\n";

/* __torch__/models/number_vad_model/___torch_mangle_18.py */
static const char OLD_NONE[] =
	"class ConvBlock(Module):\n"
	"  __parameters__ = []\n"
	"  __buffers__ = []\n"
	"  training : bool\n"
	"  proj : None\n"
	"  dw_conv : __torch__.torch.nn.modules.container.___torch_mangle_15.Sequential\n"
	"  pw_conv : __torch__.torch.nn.modules.container.___torch_mangle_17.Sequential\n"
	"  activation : __torch__.torch.nn.modules.activation.ReLU\n"
	"  def forward(self: __torch__.models.number_vad_model.___torch_mangle_18.ConvBlock,\n"
	"    x: Tensor) -> Tensor:\n"
	"    x0 = (self.pw_conv).forward((self.dw_conv).forward(x, ), )\n"
	"    x1 = torch.add_(x0, x, alpha=1)\n"
	"    return (self.activation).forward(x1, )\n";

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

#define RECORD "archive/code/__torch__/x.py"
#define BASE 1000u

typedef struct ctx {
	tsl_arena arena;
	tsl_error err;
	char *bufs[64];
	int nbufs;
} ctx;

static int setup(void **state)
{
	ctx *c = calloc(1, sizeof *c);

	if (!c)
		return -1;
	tsl__arena_init(&c->arena, 0);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	ctx *c = *state;

	for (int i = 0; i < c->nbufs; i++)
		free(c->bufs[i]);
	tsl__arena_free(&c->arena);
	free(c);
	return 0;
}

/* A copy of exactly n bytes (results point into it: kept until teardown). */
static const char *copy(ctx *c, const char *s, size_t n)
{
	char *b = malloc(n ? n : 1);

	assert_non_null(b);
	if (n)
		memcpy(b, s, n);
	assert_true(c->nbufs < 64);
	c->bufs[c->nbufs++] = b;
	return b;
}

static int parse_n(ctx *c, const char *s, size_t n, const char *name,
	tsl_class_info **out)
{
	memset(&c->err, 0, sizeof c->err);
	return tsl__class_header_parse(out, copy(c, s, n), n, name, &c->arena,
		RECORD, BASE, &c->err);
}

static tsl_class_info *parse_ok(ctx *c, const char *s, const char *name)
{
	tsl_class_info *ci = NULL;
	int rc = parse_n(c, s, strlen(s), name, &ci);

	if (rc != TSL_OK)
		fail_msg("parse %s: %d %s", name, rc, c->err.message);
	assert_non_null(ci);
	return ci;
}

static int parse_rc(ctx *c, const char *s, const char *name)
{
	tsl_class_info *ci = (tsl_class_info *)1;
	int rc = parse_n(c, s, strlen(s), name, &ci);

	if (rc != TSL_OK)
		assert_null(ci);
	return rc;
}

static const tsl_class_attr *attr(const tsl_class_info *ci, const char *name)
{
	for (size_t i = 0; i < ci->nattrs; i++)
		if (!strcmp(ci->attrs[i].name, name))
			return &ci->attrs[i];
	fail_msg("no attribute %s", name);
	return NULL;
}

/* The index of attribute `name`, for the tsl__class_attr_* questions. */
static size_t attr_ix(const tsl_class_info *ci, const char *name)
{
	return (size_t)(attr(ci, name) - ci->attrs);
}

static const tsl_class_method *method(const tsl_class_info *ci,
	const char *name)
{
	for (size_t i = 0; i < ci->nmethods; i++)
		if (!strcmp(ci->methods[i].name, name))
			return &ci->methods[i];
	fail_msg("no method %s", name);
	return NULL;
}

static void check_arg(const tsl_class_method *m, size_t i, const char *name,
	const char *type, const char *def)
{
	assert_true(i < m->nargs);
	assert_string_equal(m->args[i].name, name);
	if (type)
		assert_string_equal(m->args[i].type, type);
	else
		assert_null(m->args[i].type);
	if (def)
		assert_string_equal(m->args[i].default_text, def);
	else
		assert_null(m->args[i].default_text);
}

static void check_attr(const tsl_class_info *ci, size_t i, const char *name,
	const char *type)
{
	assert_true(i < ci->nattrs);
	assert_string_equal(ci->attrs[i].name, name);
	assert_string_equal(ci->attrs[i].type, type);
}

/* ------------------------------------------------------------------------ */
/* Real files                                                               */
/* ------------------------------------------------------------------------ */

static void test_linear(void **state)
{
	ctx *c = *state;
	tsl_class_info *ci = parse_ok(c, LINEAR,
		"__torch__.torch.nn.modules.linear.Linear");
	const tsl_class_method *m;

	assert_string_equal(ci->name, "Linear");
	assert_int_equal(ci->kind, TSL_CLASS_MODULE);
	assert_int_equal(ci->offset, 0);
	assert_true(ci->has_parameters_line);
	assert_true(ci->has_buffers_line);
	assert_int_equal(ci->nparameters, 2);
	assert_string_equal(ci->parameters[0], "weight");
	assert_string_equal(ci->parameters[1], "bias");
	assert_int_equal(ci->nbuffers, 0);
	assert_int_equal(ci->nattrs, 4);
	check_attr(ci, 0, "weight", "Tensor");
	check_attr(ci, 1, "bias", "Tensor");
	check_attr(ci, 2, "training", "bool");
	check_attr(ci, 3, "_is_full_backward_hook", "NoneType");
	assert_true(tsl__class_attr_is_parameter(ci, 0) &&
		tsl__class_attr_is_parameter(ci, 1));
	assert_false(tsl__class_attr_is_parameter(ci, 2) ||
		tsl__class_attr_is_buffer(ci, 2));
	assert_int_equal(ci->nconsts, 2);
	assert_string_equal(ci->consts[0].name, "out_features");
	assert_string_equal(ci->consts[0].type, "int");
	assert_string_equal(ci->consts[0].value_text, "2");
	assert_string_equal(ci->consts[1].name, "in_features");
	assert_int_equal(ci->nmethods, 1);
	m = &ci->methods[0];
	assert_string_equal(m->name, "forward");
	assert_int_equal(m->nargs, 2);
	check_arg(m, 0, "self", "__torch__.torch.nn.modules.linear.Linear", NULL);
	check_arg(m, 1, "input", "Tensor", NULL);
	assert_true(m->args[0].annotated);
	assert_string_equal(m->return_type, "Tensor");
	assert_false(m->is_forward_hook || m->is_forward_pre_hook);
	assert_false(ci->has_getstate || ci->has_setstate);
	/* the def runs to the end of the file */
	assert_ptr_equal(m->src + m->src_len, ci->src + ci->src_len);
	assert_int_equal(strncmp(m->src, "  def forward(", 14), 0);
	assert_int_equal(ci->src_len, strlen(LINEAR));
	/* the unqualified name finds it too */
	ci = parse_ok(c, LINEAR, "Linear");
	assert_string_equal(ci->methods[0].args[0].type,
		"__torch__.torch.nn.modules.linear.Linear");
}

static void test_sequential(void **state)
{
	ctx *c = *state;
	tsl_class_info *ci = parse_ok(c, SEQ, "Sequential");
	const tsl_class_method *m;

	assert_int_equal(ci->nparameters, 0);
	assert_null(ci->parameters);
	assert_int_equal(ci->nattrs, 5);
	check_attr(ci, 2, "0", "__torch__.torch.nn.modules.linear.___torch_mangle_0.Linear");
	check_attr(ci, 3, "1", "__torch__.torch.nn.modules.activation.ReLU");
	check_attr(ci, 4, "2", "__torch__.torch.nn.modules.linear.___torch_mangle_1.Linear");
	assert_int_equal(ci->nmethods, 2);
	m = method(ci, "__len__");
	assert_int_equal(m->nargs, 1);
	assert_string_equal(m->return_type, "int");
	{
		static const char want[] = "  def __len__(self: __torch__.torch.nn.modules.container.Sequential) -> int:\n    return 3\n";

		assert_int_equal(m->src_len, sizeof want - 1);
		assert_memory_equal(m->src, want, sizeof want - 1);
	}
}

static void test_lstm(void **state)
{
	ctx *c = *state;
	tsl_class_info *ci = parse_ok(c, LSTM, "LSTM");
	const tsl_class_method *m;
	tsl_class_method *fns;
	size_t nfns;
	static const char *const names[] = { "forward__0", "forward__1",
		"permute_hidden", "check_forward_args", "check_input",
		"check_hidden_size", "get_expected_hidden_size",
		"get_expected_cell_size" };

	assert_int_equal(ci->nparameters, 8);
	assert_string_equal(ci->parameters[7], "bias_hh_l1");
	assert_int_equal(ci->nattrs, 13);
	for (size_t i = 0; i < 8; i++)
		assert_true(tsl__class_attr_is_parameter(ci, i));
	check_attr(ci, 11, "_all_weights", "List[List[str]]");
	assert_int_equal(ci->nconsts, 9);
	assert_string_equal(ci->consts[2].name, "dropout");
	assert_string_equal(ci->consts[2].type, "float");
	assert_string_equal(ci->consts[2].value_text, "0.");
	assert_string_equal(ci->consts[6].value_text, "\"LSTM\"");
	assert_int_equal(ci->nmethods, 8);
	for (size_t i = 0; i < 8; i++)
		assert_string_equal(ci->methods[i].name, names[i]);
	m = method(ci, "forward__0");
	assert_int_equal(m->nargs, 3);
	check_arg(m, 2, "hx", "Optional[Tuple[Tensor, Tensor]]", "None");
	assert_string_equal(m->return_type, "Tuple[Tensor, Tuple[Tensor, Tensor]]");
	m = method(ci, "forward__1");
	check_arg(m, 1, "input", "__torch__.torch.nn.utils.rnn.PackedSequence", NULL);
	m = method(ci, "check_forward_args");
	assert_string_equal(m->return_type, "NoneType");
	m = method(ci, "check_hidden_size");
	check_arg(m, 3, "msg", "str", "\"Expected hidden size {}, got {}\"");
	/* the class ends where the top-level def starts */
	assert_int_equal(strncmp(ci->src + ci->src_len, "def _apply_permutation(", 23), 0);

	assert_int_equal(tsl__code_functions(&fns, &nfns, LSTM, strlen(LSTM),
		&c->arena, RECORD, BASE, &c->err), TSL_OK);
	assert_int_equal(nfns, 1);
	assert_string_equal(fns[0].name, "_apply_permutation");
	assert_int_equal(fns[0].nargs, 3);
	check_arg(&fns[0], 0, "tensor", "Tensor", NULL);
	check_arg(&fns[0], 2, "dim", "int", "1");
	assert_string_equal(fns[0].return_type, "Tensor");
	assert_int_equal(fns[0].src_len, strlen(LSTM) - (size_t)(fns[0].src - LSTM));
}

static void test_defaults(void **state)
{
	ctx *c = *state;
	tsl_class_info *ci = parse_ok(c, WEIRD, "__torch__.Weird");
	const tsl_class_method *m;

	assert_int_equal(ci->nattrs, 10);
	assert_true(tsl__class_attr_is_parameter(ci, attr_ix(ci, "p")));
	assert_true(tsl__class_attr_is_buffer(ci, attr_ix(ci, "buf")));
	assert_false(tsl__class_attr_is_parameter(ci, attr_ix(ci, "buf")));
	assert_string_equal(attr(ci, "d")->type, "Dict[str, int]");
	assert_string_equal(attr(ci, "o")->type, "Optional[bool]");
	assert_string_equal(attr(ci, "t")->type, "Tuple[int, str]");
	m = method(ci, "forward");
	assert_int_equal(m->nargs, 6);
	check_arg(m, 0, "self", "__torch__.Weird", NULL);
	check_arg(m, 2, "y", "Optional[Tensor]", "None");
	check_arg(m, 3, "s", "str", "\"a,b)]\"");
	check_arg(m, 4, "l", "Tuple[int, int]", "(1, 2)");
	check_arg(m, 5, "f", "float", "1.0000000000000001e-05");
	assert_string_equal(m->return_type, "Tuple[Tensor, Tensor]");
	assert_string_equal(method(ci, "none_ret")->return_type, "NoneType");
	assert_int_equal(method(ci, "none_ret")->nargs, 1);
	assert_string_equal(method(ci, "infer")->return_type, "int");
}

static void test_hooks(void **state)
{
	ctx *c = *state;
	tsl_class_info *ci = parse_ok(c, HOOKS, "Hk");

	assert_int_equal(ci->nforward_pre_hooks, 1);
	assert_string_equal(ci->forward_pre_hooks[0], "pre");
	assert_int_equal(ci->nforward_hooks, 1);
	assert_string_equal(ci->forward_hooks[0], "post");
	assert_int_equal(ci->nattrs, 3);
	assert_int_equal(ci->nmethods, 3);
	assert_false(method(ci, "forward")->is_forward_hook);
	assert_true(method(ci, "post")->is_forward_hook);
	assert_false(method(ci, "post")->is_forward_pre_hook);
	assert_true(method(ci, "pre")->is_forward_pre_hook);
	/* hooks name their first argument as they like */
	check_arg(method(ci, "post"), 0, "m", "__torch__.Hk", NULL);
	check_arg(method(ci, "post"), 1, "inp", "Tuple[Tensor]", NULL);
}

static void test_state(void **state)
{
	ctx *c = *state;
	tsl_class_info *ci = parse_ok(c, STATE, "St");

	assert_true(ci->has_getstate);
	assert_true(ci->has_setstate);
	assert_string_equal(method(ci, "__getstate__")->return_type,
		"Tuple[int, Tensor, bool]");
	check_arg(method(ci, "__setstate__"), 1, "s",
		"Tuple[int, Tensor, bool]", NULL);
}

static void test_interface(void **state)
{
	ctx *c = *state;
	tsl_class_info *ci = parse_ok(c, IFACE, "__torch__.ModIface");
	const tsl_class_method *m;

	assert_int_equal(ci->kind, TSL_CLASS_MODULE_INTERFACE);
	assert_int_equal(ci->nmethods, 1);
	m = &ci->methods[0];
	/* `def forward(self, x: Tensor)`: self typed by the qualified name */
	check_arg(m, 0, "self", "__torch__.ModIface", NULL);
	assert_false(m->args[0].annotated);
	check_arg(m, 1, "x", "Tensor", NULL);
	assert_true(m->args[1].annotated);
	ci = parse_ok(c, IFACE, "ModIface");
	check_arg(&ci->methods[0], 0, "self", NULL, NULL);

	ci = parse_ok(c, IFACE, "UseIface");
	assert_string_equal(attr(ci, "sub")->type, "__torch__.ModIface");
	ci = parse_ok(c, IFACE, "Impl");
	assert_int_equal(ci->kind, TSL_CLASS_MODULE);
	assert_int_equal(ci->nmethods, 1);
}

static void test_enum_and_more(void **state)
{
	ctx *c = *state;
	tsl_class_info *ci = parse_ok(c, ENUMS, "__torch__.M");
	const tsl_class_method *m;

	assert_string_equal(attr(ci, "c")->type, "__torch__.Color");
	assert_string_equal(attr(ci, "dev")->type, "Device");
	/* a nested def in a body is not a method */
	assert_int_equal(ci->nmethods, 3);
	m = method(ci, "forward");
	check_arg(m, 3, "n", "__torch__.Name", "__torch__.Name.A");
	assert_string_equal(m->return_type, "Tuple[Tensor, __torch__.NTD]");
	m = method(ci, "dev_fn");
	check_arg(m, 2, "u", "Union[List[int], int]", NULL);
	check_arg(m, 3, "a", "Any", NULL);
	check_arg(m, 4, "z", "complex", "0.+1.j");
	check_arg(m, 5, "s", "str", "\"a\\'b\\\"c\\\\\"");
	assert_string_equal(m->return_type, "Optional[Device]");
	assert_string_equal(method(ci, "fut")->return_type, "Future[Tensor]");

	ci = parse_ok(c, ENUMS, "Impl");
	assert_int_equal(ci->kind, TSL_CLASS_PLAIN);
	assert_false(ci->has_parameters_line);
	assert_string_equal(method(ci, "__init__")->return_type, "NoneType");

	ci = parse_ok(c, ENUMS, "Color");
	assert_int_equal(ci->kind, TSL_CLASS_ENUM);
	assert_int_equal(ci->nenum_members, 2);
	assert_string_equal(ci->enum_members[1].name, "GREEN");
	assert_string_equal(ci->enum_members[1].value_text, "2");
	ci = parse_ok(c, ENUMS, "Name");
	assert_string_equal(ci->enum_members[0].value_text, "\"a,b]\"");
	ci = parse_ok(c, ENUMS, "Fl");
	assert_string_equal(ci->enum_members[0].value_text, "1.5");

	ci = parse_ok(c, ENUMS, "NTD");
	assert_int_equal(ci->kind, TSL_CLASS_NAMEDTUPLE);
	assert_int_equal(ci->nattrs, 3);
	check_attr(ci, 2, "c", "str");
	assert_null(tsl__class_attr_default(ci, 2));
}

static void test_plain_class(void **state)
{
	ctx *c = *state;
	tsl_class_info *ci = parse_ok(c, PLAIN, "Plain");
	const tsl_class_method *m;

	assert_int_equal(ci->kind, TSL_CLASS_PLAIN);
	assert_int_equal(ci->nattrs, 2);
	check_attr(ci, 1, "b", "List[int]");
	m = method(ci, "__init__");
	check_arg(m, 1, "a", "int", NULL);
	assert_string_equal(m->return_type, "NoneType");
	ci = parse_ok(c, PLAIN, "UsePlain");
	assert_string_equal(attr(ci, "pl")->type, "__torch__.Plain");
}

static void test_namedtuple(void **state)
{
	ctx *c = *state;
	tsl_class_info *ci = parse_ok(c, PACKED, "PackedSequence");
	static const char nt_defaults[] =
		"class NT(NamedTuple):\n"
		"  a : int\n"
		"  b : float = 2.5\n"
		"  c : str = \"q, ]\"\n";

	assert_int_equal(ci->kind, TSL_CLASS_NAMEDTUPLE);
	assert_int_equal(ci->nattrs, 4);
	check_attr(ci, 3, "unsorted_indices", "Optional[Tensor]");

	ci = parse_ok(c, nt_defaults, "NT");
	assert_null(tsl__class_attr_default(ci, 0));
	assert_string_equal(tsl__class_attr_default(ci, 1), "2.5");
	assert_string_equal(tsl__class_attr_default(ci, 2), "\"q, ]\"");
	assert_string_equal(ci->attrs[2].type, "str");
}

static void test_legacy_headers(void **state)
{
	ctx *c = *state;
	tsl_class_info *ci = parse_ok(c, LEGACY_SEQ, "_ConstSequential");

	assert_int_equal(ci->offset, strstr(LEGACY_SEQ, "class ") - LEGACY_SEQ);
	assert_true(ci->has_parameters_line);
	assert_false(ci->has_buffers_line);
	assert_int_equal(ci->nattrs, 2);
	check_attr(ci, 0, "0", "__torch__.torch.nn.modules.dropout.Dropout");
	check_attr(ci, 1, "1", "__torch__.torch.nn.quantized.modules.linear.Linear");
	assert_int_equal(ci->nmethods, 1);
	assert_string_equal(ci->methods[0].args[0].type,
		"__torch__.torch.jit.___torch_mangle_221._ConstSequential");
}

static void test_g1_functions(void **state)
{
	ctx *c = *state;
	tsl_class_method *fns;
	size_t n;
	tsl_class_info *ci = (tsl_class_info *)1;

	assert_int_equal(tsl__code_functions(&fns, &n, G1_FOO, strlen(G1_FOO),
		&c->arena, RECORD, BASE, &c->err), TSL_OK);
	assert_int_equal(n, 1);
	assert_string_equal(fns[0].name, "forward");
	assert_int_equal(fns[0].nargs, 3);
	check_arg(&fns[0], 0, "self", NULL, NULL);
	assert_false(fns[0].args[0].annotated);
	check_arg(&fns[0], 2, "y", "Tensor", NULL);
	assert_string_equal(fns[0].return_type, "Tensor");
	assert_int_equal(fns[0].offset, strlen("op_version_set = 0\n"));
	/* no class in it */
	assert_int_equal(tsl__class_header_parse(&ci, G1_FOO, strlen(G1_FOO),
		"forward", &c->arena, RECORD, BASE, &c->err), TSL_ENOTFOUND);
	assert_null(ci);
	assert_int_equal(c->err.code, TSL_ENOTFOUND);
	/* a file with no def */
	assert_int_equal(tsl__code_functions(&fns, &n, LINEAR, strlen(LINEAR),
		&c->arena, RECORD, BASE, &c->err), TSL_OK);
	assert_int_equal(n, 0);
	assert_null(fns);
}

static void test_none_spellings(void **state)
{
	ctx *c = *state;
	tsl_class_info *ci = parse_ok(c, OLD_NONE, "ConvBlock");
	static const char ext[] =
		"def _assert_has_ops() -> None:\n"
		"  _0 = uninitialized(NoneType)\n"
		"  return None\n"
		"def f(x: List[None],\n"
		"    y: Tuple[],\n"
		"    z: Dict[str, Optional[None]]=None) -> Tuple[None, NoneType]:\n"
		"  return (None, None)\n"
		"def g(a: __torch__.None.X, b: Nonex, c: xNone) -> Tuple[Tuple[], int]:\n"
		"  return (a, b)\n";
	tsl_class_method *fns;
	size_t n;

	/* `proj : None` in old files: libtorch says NoneType */
	check_attr(ci, 1, "proj", "NoneType");
	assert_int_equal(tsl__code_functions(&fns, &n, ext, strlen(ext),
		&c->arena, RECORD, BASE, &c->err), TSL_OK);
	assert_int_equal(n, 3);
	assert_int_equal(fns[0].nargs, 0);
	assert_string_equal(fns[0].return_type, "NoneType");
	check_arg(&fns[1], 0, "x", "List[NoneType]", NULL);
	check_arg(&fns[1], 1, "y", "Tuple[()]", NULL);
	check_arg(&fns[1], 2, "z", "Dict[str, Optional[NoneType]]", "None");
	assert_string_equal(fns[1].return_type, "Tuple[NoneType, NoneType]");
	check_arg(&fns[2], 0, "a", "__torch__.None.X", NULL);
	check_arg(&fns[2], 1, "b", "Nonex", NULL);
	check_arg(&fns[2], 2, "c", "xNone", NULL);
	assert_string_equal(fns[2].return_type, "Tuple[Tuple[()], int]");
}

static void test_unannotated(void **state)
{
	ctx *c = *state;
	static const char src[] =
		"class A(Module):\n"
		"  __parameters__ = []\n"
		"  def f(self, x, y=3, z : int = 4) :\n"
		"    pass\n"
		"  def g(self)   ->   Tensor  :  return x\n"
		"  def h(self: __torch__.A, ):\n"
		"    pass\n";
	tsl_class_info *ci = parse_ok(c, src, "__torch__.A");
	const tsl_class_method *m = method(ci, "f");

	check_arg(m, 0, "self", "__torch__.A", NULL);
	check_arg(m, 1, "x", "Tensor", NULL);
	assert_false(m->args[1].annotated);
	check_arg(m, 2, "y", "Tensor", "3");
	check_arg(m, 3, "z", "int", "4");
	assert_null(m->return_type);
	assert_string_equal(method(ci, "g")->return_type, "Tensor");
	assert_int_equal(method(ci, "h")->nargs, 1);
}

static void test_line_endings(void **state)
{
	ctx *c = *state;
	static const char crlf[] =
		"class L(Module):\r\n"
		"  __parameters__ = [\"w\", ]\r\n"
		"  w : Tensor\r\n"
		"  k : Final[int] = 3\r\n"
		"  def forward(self: __torch__.L,\r\n"
		"    x: Tensor) -> Tensor:\r\n"
		"    return x\r\n";
	static const char no_newline[] =
		"class NT(NamedTuple):\n"
		"  a : int\n"
		"  c : str";
	static const char blank_lines[] =
		"\n\n"
		"class B(Module):\n"
		"\n"
		"  __parameters__ = []\n"
		"   \n"
		"  a : int\n"
		"  def forward(self: __torch__.B) -> int:\n"
		"\n"
		"    return 1\n"
		"\n"
		"class C(Module):\n"
		"  b : int\n";
	tsl_class_info *ci = parse_ok(c, crlf, "L");

	check_attr(ci, 0, "w", "Tensor");
	assert_true(tsl__class_attr_is_parameter(ci, 0));
	assert_string_equal(ci->consts[0].value_text, "3");
	assert_string_equal(ci->methods[0].return_type, "Tensor");
	ci = parse_ok(c, no_newline, "NT");
	check_attr(ci, 1, "c", "str");
	ci = parse_ok(c, blank_lines, "B");
	assert_int_equal(ci->nattrs, 1);
	assert_int_equal(ci->nmethods, 1);
	assert_int_equal(strncmp(ci->src + ci->src_len, "class C", 7), 0);
	ci = parse_ok(c, blank_lines, "C");
	check_attr(ci, 0, "b", "int");
}

static void test_lists(void **state)
{
	ctx *c = *state;
	static const char src[] =
		"class A(Module):\n"
		"  __parameters__ = [\"a b\", \"x\"y\", \"\", \"z\"]\n"
		"  __buffers__ = [\"r, s\", ]\n"
		"  __forward_pre_hooks__ = [pre_hook_os, pre_hook_os, ]\n"
		"  __forward_hooks__ = []\n"
		"  __annotations__ = []\n"
		"  __annotations__[\"a b\"] = Tensor\n"
		"  __annotations__[\"x\"y\"] = Tensor\n"
		"  __annotations__[\"r, s\"] = Tensor\n"
		"  __future_thing__ = 12\n"
		"  def pre_hook_os(self: __torch__.A,\n"
		"    input: Tuple[List[str]]) -> None:\n"
		"    return None\n";
	tsl_class_info *ci = parse_ok(c, src, "A");

	assert_int_equal(ci->nparameters, 4);
	assert_string_equal(ci->parameters[0], "a b");
	assert_string_equal(ci->parameters[1], "x\"y");
	assert_string_equal(ci->parameters[2], "");
	assert_string_equal(ci->parameters[3], "z");
	assert_int_equal(ci->nbuffers, 1);
	assert_string_equal(ci->buffers[0], "r, s");
	assert_int_equal(ci->nforward_pre_hooks, 2);
	assert_string_equal(ci->forward_pre_hooks[1], "pre_hook_os");
	assert_int_equal(ci->nforward_hooks, 0);
	assert_int_equal(ci->nattrs, 3);
	assert_true(tsl__class_attr_is_parameter(ci, attr_ix(ci, "a b")));
	assert_true(tsl__class_attr_is_parameter(ci, attr_ix(ci, "x\"y")));
	assert_true(tsl__class_attr_is_buffer(ci, attr_ix(ci, "r, s")));
	assert_true(ci->methods[0].is_forward_pre_hook);
	assert_string_equal(ci->methods[0].return_type, "NoneType");
}

/* ------------------------------------------------------------------------ */
/* Errors and hostile input                                                 */
/* ------------------------------------------------------------------------ */

static void test_not_found(void **state)
{
	ctx *c = *state;
	static const char nested[] =
		"class Outer(Module):\n"
		"  def forward(self: __torch__.Outer) -> int:\n"
		"    class Linear(Module):\n"
		"    return 1\n";
	tsl_class_info *ci = (tsl_class_info *)1;

	assert_int_equal(parse_rc(c, LINEAR, "Lin"), TSL_ENOTFOUND);
	assert_int_equal(parse_rc(c, LINEAR, "LinearX"), TSL_ENOTFOUND);
	assert_int_equal(parse_rc(c, LINEAR, "linear"), TSL_ENOTFOUND);
	assert_int_equal(parse_rc(c, LINEAR, "x.Lin"), TSL_ENOTFOUND);
	assert_int_equal(parse_rc(c, nested, "Linear"), TSL_ENOTFOUND);
	assert_int_equal(parse_rc(c, "", "Linear"), TSL_ENOTFOUND);
	assert_int_equal(c->err.code, TSL_ENOTFOUND);
	assert_string_equal(c->err.record, RECORD);
	assert_int_equal(tsl__class_header_parse(&ci, NULL, 0, "A", &c->arena,
		NULL, BASE, NULL), TSL_ENOTFOUND);
	assert_null(ci);
}

static void test_einval(void **state)
{
	ctx *c = *state;
	tsl_class_info *ci;
	tsl_class_method *fns;
	size_t n;

	assert_int_equal(tsl__class_header_parse(NULL, LINEAR, 3, "A",
		&c->arena, NULL, 0, &c->err), TSL_EINVAL);
	assert_int_equal(tsl__class_header_parse(&ci, NULL, 3, "A",
		&c->arena, NULL, 0, &c->err), TSL_EINVAL);
	assert_int_equal(tsl__class_header_parse(&ci, LINEAR, 3, NULL,
		&c->arena, NULL, 0, &c->err), TSL_EINVAL);
	assert_int_equal(tsl__class_header_parse(&ci, LINEAR, 3, "A", NULL,
		NULL, 0, &c->err), TSL_EINVAL);
	assert_int_equal(tsl__class_header_parse(&ci, LINEAR, 3, "a.", 
		&c->arena, NULL, 0, &c->err), TSL_EINVAL);
	assert_int_equal(tsl__code_functions(&fns, NULL, LINEAR, 3, &c->arena,
		NULL, 0, NULL), TSL_EINVAL);
	assert_int_equal(tsl__code_functions(&fns, &n, LINEAR, 3, NULL,
		NULL, 0, NULL), TSL_EINVAL);
}

static void test_error_location(void **state)
{
	ctx *c = *state;
	static const char src[] =
		"class A(Module):\n"
		"  __parameters__ = []\n"
		"  a : Dict[str, int\n";

	assert_int_equal(parse_rc(c, src, "A"), TSL_EFORMAT);
	assert_int_equal(c->err.code, TSL_EFORMAT);
	assert_string_equal(c->err.record, RECORD);
	assert_non_null(strstr(c->err.message, "line 3:"));
	assert_true(c->err.offset > BASE + 38 && c->err.offset <= BASE + strlen(src));
	/* no base: no offset */
	assert_int_equal(tsl__class_header_parse(&(tsl_class_info *){ NULL },
		src, strlen(src), "A", &c->arena, NULL, TSL_NO_OFFSET, &c->err),
		TSL_EFORMAT);
	assert_int_equal(c->err.offset, TSL_NO_OFFSET);
	assert_string_equal(c->err.record, "");
}

static void test_malformed(void **state)
{
	ctx *c = *state;
	static const char *const bad[] = {
		/* truncated mid-signature */
		"class A(Module):\n  def forward(self: __torch__.A,\n    x: Tensor",
		"class A(Module):\n  def forward(self: __torch__.A,\n    x: Tensor) -> Tensor",
		"class A(Module):\n  def forward(self: __torch__.A,\n    x: Tensor) -> Tensor:\n",
		"class A(Module):\n  def forward(self: __torch__.A,\n    x: Tensor) -> Tensor:",
		"class A(Module):\n  def forward(self: __torch__.A,\n    x: Tensor) -> Tensor:\n\n  \n",
		"class A(Module):\n  def forward(self: __torch__.A,\nclass B:\n    x: Tensor) -> Tensor:\n    pass\n",
		/* unbalanced brackets */
		"class A(Module):\n  a : Dict[str, int\n",
		"class A(Module):\n  a : Dict[str, int]]\n",
		"class A(Module):\n  a : Tuple[int)\n",
		"class A(Module):\n  a : List(int]\n",
		"class A(Module):\n  a : \n",
		"class A(Module):\n  a : Final[int]\n",
		"class A(Module):\n  a : Final[] = 3\n",
		"class A(Module):\n  a : Final[int] = \n",
		"class A(Module):\n  a : int = 3\n",
		"class A(Module):\n  a : in$t\n",
		"class A(Module):\n  a : \"str\"\n",
		"class A(Module):\n  def f(self, x: List[int]]) -> int:\n    pass\n",
		"class A(Module):\n  def f(self, x: int=(1, 2) -> int:\n    pass\n",
		"class A(Module):\n  def f(self, x: str=\"abc) -> int:\n    pass\n",
		"class A(Module):\n  def f(self, x: str='a\\') -> int:\n    pass\n",
		"class A(Module):\n  def f(self, x: int=) -> int:\n    pass\n",
		"class A(Module):\n  def f(self, , x) -> int:\n    pass\n",
		"class A(Module):\n  def f(self,, x) -> int:\n    pass\n",
		"class A(Module):\n  def f(self, *args) -> int:\n    pass\n",
		"class A(Module):\n  def f(self, 1x) -> int:\n    pass\n",
		"class A(Module):\n  def f(self) -> Tensor\n    pass\n",
		"class A(Module):\n  def f(self) -> :\n    pass\n",
		"class A(Module):\n  def f(self) junk:\n    pass\n",
		"class A(Module):\n  def f self):\n    pass\n",
		"class A(Module):\n  def (self):\n    pass\n",
		"class A(Module):\n  def f(self) -> Tensor:\n  a : int\n",
		/* structure */
		"class A(Foo):\n  a : int\n",
		"class A(Module:\n  a : int\n",
		"class A(Module)\n  a : int\n",
		"class A(Module): pass\n",
		"class A(Module):\n   a : int\n",
		"class A(Module):\n a : int\n",
		"class A(Module):\n  a = 3\n",
		"class A(Module):\n  whatever\n",
		"class A(Module):\n  def f(self) -> int:\n    return 1\n  a : int\n",
		"class A(Module):\n  __parameters__ = [\"a\", ]\n  __parameters__ = []\n",
		"class A(Module):\n  __parameters__ = [\"a\", \n",
		"class A(Module):\n  __parameters__ = [\"a, ]\n",
		"class A(Module):\n  __parameters__ = \"a\"\n",
		"class A(Module):\n  __parameters__ = [a b c]\n",
		"class A(Module):\n  __parameters__ = [, ]\n",
		"class A(Module):\n  __annotations__[a] = int\n",
		"class A(Module):\n  __annotations__[\"a] = int\n",
		"class A(Module):\n  __annotations__[\"a\"] int\n",
		"class A(Enum):\n  a : int\n",
		"class A(Enum):\n  B =\n",
		"class A(NamedTuple):\n  def f(self) -> int:\n    return 1\n",
		"class A(Interface):\n  a : int\n",
		"class A(Module):\n  a : int\nclass A(Module):\n  a : int\n",
		"class A(Module):\n  a : Tensor\n\tb : Tensor\n",
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = parse_rc(c, bad[i], "A");

		if (rc != TSL_EFORMAT)
			fail_msg("case %zu: rc %d for\n%s", i, rc, bad[i]);
		assert_non_null(strstr(c->err.message, "line "));
	}
	/* a bad class elsewhere in the file does not matter */
	assert_int_equal(parse_rc(c, "class B(Foo):\n  x\nclass A:\n  a : int\n",
		"A"), TSL_OK);
}

static void test_functions_malformed(void **state)
{
	ctx *c = *state;
	static const char *const bad[] = {
		"def f(x: Tensor,\n    y: int",
		"def f(x: Tensor,\ny: int) -> int:\n  return 1\n",
		"def f(x: Tensor) -> int:\n",
		"def f(x: Tensor) -> int:\nreturn 1\n",
		"def f(x: Tensor -> int:\n  return 1\n",
		"def f(x: Tensor)) -> int:\n  return 1\n",
	};
	tsl_class_method *fns = (tsl_class_method *)1;
	size_t n = 7;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *s = copy(c, bad[i], strlen(bad[i]));
		int rc = tsl__code_functions(&fns, &n, s, strlen(bad[i]),
			&c->arena, RECORD, BASE, &c->err);

		if (rc != TSL_EFORMAT)
			fail_msg("case %zu: rc %d", i, rc);
		assert_null(fns);
		assert_int_equal(n, 0);
	}
}

/* `__annotations__["k"] = T` lines take a short path when they have exactly
 * that shape (walk_members' annot_fast); every other shape takes the
 * general one.  Both must read the same members and report the same
 * errors. */
static void test_annotation_shapes(void **state)
{
	ctx *c = *state;
	static const char src[] =
		"class L(Module):\n"
		"  __parameters__ = [\"w\", ]\n"
		"  __buffers__ = []\n"
		"  __annotations__[\"0\"] = __torch__.a.B\n"          /* short */
		"  __annotations__[\"\"] = int\n"                     /* empty name */
		"  __annotations__[\"w\"] = Optional[None]\n"         /* respelled */
		"  __annotations__[\"c\"] = int  \n"                  /* general */
		"  __annotations__[\"d\"]  =  Tensor\n"               /* general */
		"  __annotations__[\"x\"y\"] = Tensor\n"              /* general */
		"  __annotations__[\"1\"] = __torch__.a.B\r\n"        /* general */
		"  __annotations__[\"2\"] = __torch__.a.B\n"          /* short */
		"  def forward(self: __torch__.L) -> int:\n"
		"    return 1\n";
	static const struct { const char *name, *type; } want[] = {
		{ "0", "__torch__.a.B" }, { "", "int" },
		{ "w", "Optional[NoneType]" }, { "c", "int" }, { "d", "Tensor" },
		{ "x\"y", "Tensor" }, { "1", "__torch__.a.B" },
		{ "2", "__torch__.a.B" } };
	static const struct { const char *src, *msg; } bad[] = {
		{ "class A(Module):\n  __annotations__[\"e\"] = \"int\"\n",
			"unexpected byte 0x22" },
		{ "class A(Module):\n  __annotations__[\"e\"] = \n",
			"empty type annotation" },
		{ "class A(Module):\n  __annotations__[\"e\"] = Dict[str\n",
			"unclosed '['" },
		{ "class A(Module):\n  def f(self) -> int:\n    return 1\n"
		  "  __annotations__[\"e\"] = int\n", "declaration after a method" },
	};
	static const char nul[] =
		"class A(Module):\n  __annotations__[\"a\0\"] = int\n";
	tsl_class_info *ci = parse_ok(c, src, "L");

	assert_int_equal(ci->nattrs, sizeof want / sizeof want[0]);
	for (size_t i = 0; i < ci->nattrs; i++) {
		assert_string_equal(ci->attrs[i].name, want[i].name);
		assert_string_equal(ci->attrs[i].type, want[i].type);
		assert_int_equal(tsl__class_attr_is_parameter(ci, i), i == 2);
		assert_null(tsl__class_attr_default(ci, i));
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(parse_rc(c, bad[i].src, "A"), TSL_EFORMAT);
		if (!strstr(c->err.message, bad[i].msg))
			fail_msg("case %zu: %s", i, c->err.message);
	}
	assert_int_equal(parse_n(c, nul, sizeof nul - 1, "A", &ci), TSL_EFORMAT);
	assert_non_null(strstr(c->err.message, "NUL byte in a name"));
}

static void test_nul_bytes(void **state)
{
	ctx *c = *state;
	static const char body_nul[] =
		"class A(Module):\n  a : int\n  def f(self) -> int:\n    x = \"\0\"\n    return 1\n";
	static const char type_nul[] = "class A(Module):\n  a : in\0t\n";
	static const char name_nul[] = "class A(Module):\n  __parameters__ = [\"a\0\", ]\n";
	static const char def_nul[] = "class A(Module):\n  def f(self, x: int=\0) -> int:\n    return 1\n";
	static const char sig_nul[] = "class A(Module):\n  def f(self, x: int\0) -> int:\n    return 1\n";
	static const char head_nul[] = "\0\0\n\0class A(Module):\nclass A\0(Module):\n  a : int\n";
	static const char enum_nul[] = "class A(Enum):\n  X = \"\0\"\n";
	tsl_class_info *ci;

	assert_int_equal(parse_n(c, body_nul, sizeof body_nul - 1, "A", &ci), TSL_OK);
	assert_int_equal(ci->methods[0].src_len, sizeof body_nul - 1 - 27);
	assert_int_equal(parse_n(c, type_nul, sizeof type_nul - 1, "A", &ci), TSL_EFORMAT);
	assert_int_equal(parse_n(c, name_nul, sizeof name_nul - 1, "A", &ci), TSL_EFORMAT);
	assert_int_equal(parse_n(c, def_nul, sizeof def_nul - 1, "A", &ci), TSL_EFORMAT);
	assert_int_equal(parse_n(c, sig_nul, sizeof sig_nul - 1, "A", &ci), TSL_EFORMAT);
	assert_int_equal(parse_n(c, head_nul, sizeof head_nul - 1, "A", &ci), TSL_EFORMAT);
	assert_int_equal(parse_n(c, enum_nul, sizeof enum_nul - 1, "A", &ci), TSL_EFORMAT);
	/* the name asked for is a C string: nothing after a NUL matches */
	assert_int_equal(parse_n(c, head_nul, sizeof head_nul - 1, "B", &ci), TSL_ENOTFOUND);
}

static char *huge(size_t n, const char *head, char fill, const char *tail)
{
	size_t h = strlen(head), t = strlen(tail);
	char *s = malloc(h + n + t + 1);

	assert_non_null(s);
	memcpy(s, head, h);
	memset(s + h, fill, n);
	memcpy(s + h + n, tail, t + 1);
	return s;
}

static void test_huge_lines(void **state)
{
	ctx *c = *state;
	tsl_class_info *ci;
	char *s;
	size_t n = 4u << 20;

	/* a 4 MiB body line */
	s = huge(n, "class A(Module):\n  def f(self) -> int:\n    x = ", 'x', "\n    return 1\n");
	assert_int_equal(parse_n(c, s, strlen(s), "A", &ci), TSL_OK);
	free(s);
	/* a 4 MiB attribute name */
	s = huge(n, "class A(Module):\n  ", 'a', " : int\n");
	assert_int_equal(parse_n(c, s, strlen(s), "A", &ci), TSL_OK);
	assert_int_equal(strlen(ci->attrs[0].name), n);
	free(s);
	/* 4 MiB of '[' in a type and in a signature */
	s = huge(n, "class A(Module):\n  a : ", '[', "\n");
	assert_int_equal(parse_n(c, s, strlen(s), "A", &ci), TSL_EFORMAT);
	free(s);
	s = huge(n, "class A(Module):\n  def f(self, x=", '(', ") -> int:\n    pass\n");
	assert_int_equal(parse_n(c, s, strlen(s), "A", &ci), TSL_EFORMAT);
	free(s);
	/* 4 MiB of ',' in a signature: many empty arguments */
	s = huge(n, "class A(Module):\n  def f(self", ',', ") -> int:\n    pass\n");
	assert_int_equal(parse_n(c, s, strlen(s), "A", &ci), TSL_EFORMAT);
	free(s);
	/* a 4 MiB string default */
	s = huge(n, "class A(Module):\n  def f(self, x: str=\"", 'q', "\") -> int:\n    pass\n");
	assert_int_equal(parse_n(c, s, strlen(s), "A", &ci), TSL_OK);
	assert_int_equal(strlen(ci->methods[0].args[1].default_text), n + 2);
	free(s);
	/* 250 nested brackets are fine, 300 are too deep */
	s = malloc(2000);
	assert_non_null(s);
	strcpy(s, "class A(Module):\n  a : ");
	for (int i = 0; i < 250; i++)
		strcat(s, "L[");
	strcat(s, "int");
	for (int i = 0; i < 250; i++)
		strcat(s, "]");
	strcat(s, "\n");
	assert_int_equal(parse_n(c, s, strlen(s), "A", &ci), TSL_OK);
	free(s);
}

static void test_many_members(void **state)
{
	ctx *c = *state;
	size_t n = 100000, cap = n * 160 + 1024, k = 0;
	char *s = malloc(cap);
	tsl_class_info *ci;

	assert_non_null(s);
	k += (size_t)sprintf(s + k, "class Big(Module):\n  __parameters__ = [");
	for (size_t i = 0; i < n; i += 2)
		k += (size_t)sprintf(s + k, "\"p%zu\", ", i);
	k += (size_t)sprintf(s + k, "]\n  __forward_hooks__ = [\"m%zu\", ]\n",
		n - 1);
	for (size_t i = 0; i < n; i++)
		k += (size_t)sprintf(s + k, "  p%zu : Tensor\n", i);
	for (size_t i = 0; i < n; i++)
		k += (size_t)sprintf(s + k, "  def m%zu(self: __torch__.Big,\n    x: Tensor) -> Tensor:\n    return x\n", i);
	assert_true(k < cap);
	assert_int_equal(parse_n(c, s, k, "Big", &ci), TSL_OK);
	assert_int_equal(ci->nattrs, n);
	assert_int_equal(ci->nmethods, n);
	assert_int_equal(ci->nparameters, n / 2);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(tsl__class_attr_is_parameter(ci, i), i % 2 == 0);
	assert_true(ci->methods[n - 1].is_forward_hook);
	assert_false(ci->methods[n - 2].is_forward_hook);
	free(s);
}

static void test_arena_limit(void **state)
{
	ctx *c = *state;
	tsl_arena small;
	tsl_class_info *ci;
	size_t n = 200000;
	char *s = huge(n, "class A(Module):\n  ", 'a', " : int\n");
	const char *cs = copy(c, s, strlen(s));

	free(s);
	tsl__arena_init(&small, 100000);
	assert_int_equal(tsl__class_header_parse(&ci, cs, n + 25, "A", &small,
		RECORD, BASE, &c->err), TSL_ELIMIT);
	assert_int_equal(c->err.code, TSL_ELIMIT);
	tsl__arena_free(&small);
}

/* Many members: their scratch arrays count against max_meta_bytes as they
 * grow (they end up in the arena), so the parse stops with TSL_ELIMIT
 * before its scratch memory grows past the limit; the same file parses
 * under a limit that holds it. */
static void test_members_limit(void **state)
{
	ctx *c = *state;
	tsl_arena small;
	tsl_class_info *ci;
	size_t n = 100000, i, len = 0;
	char *s = malloc(32 + n * 16);
	const char *cs;

	assert_non_null(s);
	len += (size_t)sprintf(s, "class A(Module):\n");
	for (i = 0; i < n; i++)
		len += (size_t)sprintf(s + len, "  a%zu : int\n", i);
	cs = copy(c, s, len);
	free(s);
	for (int lazy = 0; lazy < 2; lazy++) {
		tsl__arena_init(&small, 1u << 20);   /* 100,000 x 32 bytes: no */
		assert_int_equal((lazy ? tsl__class_header_parse_lazy :
			tsl__class_header_parse)(&ci, cs, len, "A", &small, RECORD,
			BASE, &c->err), TSL_ELIMIT);
		assert_int_equal(c->err.code, TSL_ELIMIT);
		assert_non_null(strstr(c->err.message, "max_meta_bytes"));
		tsl__arena_free(&small);
		tsl__arena_init(&small, 64u << 20);
		assert_int_equal((lazy ? tsl__class_header_parse_lazy :
			tsl__class_header_parse)(&ci, cs, len, "A", &small, RECORD,
			BASE, &c->err), TSL_OK);
		assert_int_equal(ci->nattrs, n);
		assert_string_equal(ci->attrs[n - 1].name, "a99999");
		tsl__arena_free(&small);
	}
}

/* A big body's attributes go straight into the arena, in an array of a
 * bound on their number (the lines before the first def); where the
 * arena's limit refuses that bound but holds the attributes, the scratch
 * array takes over and the parse succeeds, with no limit flag left set. */
static void test_attrs_bound(void **state)
{
	ctx *c = *state;
	size_t n = 300, blank = 2000, len = 0, i;
	char *s = malloc(64 + n * 16 + blank + 64);
	const char *cs;
	tsl_class_info *ci;

	assert_non_null(s);
	len += (size_t)sprintf(s, "class A(Module):\n");
	for (i = 0; i < n; i++)
		len += (size_t)sprintf(s + len, "  a%zu : int\n", i);
	memset(s + len, '\n', blank);
	len += blank;
	len += (size_t)sprintf(s + len, "  def forward(self):\n    pass\n");
	cs = copy(c, s, len);
	free(s);
	for (int limited = 0; limited < 2; limited++) {
		tsl_arena a;

		/* limited: a first 64 KiB chunk, not a second for the 73 KB
		 * bound */
		tsl__arena_init(&a, limited ? 100000 : 0);
		if (tsl__class_header_parse_lazy(&ci, cs, len, "A", &a, RECORD,
			BASE, &c->err) != TSL_OK)
			fail_msg("limited %d: %s", limited, c->err.message);
		assert_int_equal(ci->nattrs, n);
		for (i = 0; i < n; i++) {
			char name[16];

			snprintf(name, sizeof name, "a%zu", i);
			assert_string_equal(ci->attrs[i].name, name);
			assert_string_equal(ci->attrs[i].type, "int");
		}
		assert_false(a.over_limit);
		tsl__arena_free(&a);
	}
}

/* The lazy parse sees "  def __getstate__(" even as the very last bytes of
 * the file (it decides how the pickled state is read). */
static void test_dunder_at_end(void **state)
{
	ctx *c = *state;
	static const char src[] = "class M(Module):\n  a : int\n"
		"  def forward(self):\n    pass\n  def __getstate__(";
	tsl_class_info *ci;

	assert_int_equal(tsl__class_header_parse_lazy(&ci, copy(c, src,
		sizeof src - 1), sizeof src - 1, "M", &c->arena, RECORD, BASE,
		&c->err), TSL_OK);
	assert_true(ci->has_getstate);
	assert_false(ci->has_setstate);
	assert_int_equal(ci->nattrs, 1);
}

/* The lazy parse takes the blanks the full parse takes in a def line (a
 * tab after def, spaces before the parenthesis), which libtorch loads:
 * "  def\t__getstate__ (" was not seen, and the state then read as an
 * attribute dictionary; "__getstate__x(" is another method. */
static void test_dunder_blanks(void **state)
{
	ctx *c = *state;
	static const char src[] = "class M(Module):\n  a : int\n"
		"  def\t__getstate__ (self) -> int:\n    return 1\n"
		"  def  __setstate__  (self, s: int) -> None:\n    pass\n"
		"class N(Module):\n  a : int\n"
		"  def __getstate__x(self) -> int:\n    return 1\n";
	tsl_class_info *ci, *full;

	assert_int_equal(tsl__class_header_parse_lazy(&ci, copy(c, src,
		sizeof src - 1), sizeof src - 1, "M", &c->arena, RECORD, BASE,
		&c->err), TSL_OK);
	assert_true(ci->has_getstate);
	assert_true(ci->has_setstate);
	assert_int_equal(tsl__class_header_parse(&full, copy(c, src,
		sizeof src - 1), sizeof src - 1, "M", &c->arena, RECORD, BASE,
		&c->err), TSL_OK);
	assert_int_equal(full->nmethods, 2);
	assert_int_equal(tsl__class_header_parse_lazy(&ci, copy(c, src,
		sizeof src - 1), sizeof src - 1, "N", &c->arena, RECORD, BASE,
		&c->err), TSL_OK);
	assert_false(ci->has_getstate || ci->has_setstate);
}

/* Two parses are the same: the fields the module layer reads. */
static void same_info(const tsl_class_info *a, const tsl_class_info *b)
{
	assert_string_equal(a->name, b->name);
	assert_int_equal(a->kind, b->kind);
	assert_int_equal(a->offset, b->offset);
	assert_int_equal(a->src_len, b->src_len);
	assert_int_equal(a->nparameters, b->nparameters);
	assert_int_equal(a->nbuffers, b->nbuffers);
	assert_int_equal(a->nattrs, b->nattrs);
	for (size_t i = 0; i < a->nattrs; i++) {
		assert_string_equal(a->attrs[i].name, b->attrs[i].name);
		assert_string_equal(a->attrs[i].type, b->attrs[i].type);
	}
	assert_int_equal(a->nconsts, b->nconsts);
	assert_int_equal(a->nmethods, b->nmethods);
	for (size_t i = 0; i < a->nmethods; i++)
		assert_string_equal(a->methods[i].name, b->methods[i].name);
	assert_int_equal(a->nenum_members, b->nenum_members);
	assert_int_equal(a->has_getstate, b->has_getstate);
	assert_int_equal(a->has_setstate, b->has_setstate);
	assert_int_equal(a->lazy_methods, b->lazy_methods);
	assert_int_equal(a->methods_offset, b->methods_offset);
}

/* A code file indexed once (tsl__class_file_index) gives every class, lazy
 * and whole, as the parse that scans the file for it does, and the same
 * errors: a class not in the file, a class defined twice, a bad class
 * line. */
static void test_file_index(void **state)
{
	ctx *c = *state;
	static const struct {
		const char *src;
		const char *cls;
	} in[] = {
		{ LINEAR, "Linear" }, { SEQ, "Sequential" }, { LSTM, "LSTM" },
		{ WEIRD, "Weird" }, { HOOKS, "Hk" }, { STATE, "St" },
		{ IFACE, "ModIface" }, { ENUMS, "M" }, { ENUMS, "NTD" },
		{ ENUMS, "Name" }, { PLAIN, "Plain" },
		{ PACKED, "PackedSequence" }, { OLD_NONE, "ConvBlock" },
		{ ENUMS, "Nope" },
		{ "class A(Module):\n  a : int\nclass A(Module):\n  b : int\n",
		  "A" },
		{ "class A(Module\n  a : int\n", "A" },
		{ "class M(Module):\n  a : int\n  def\t__getstate__ (self) -> "
		  "int:\n    return 1\nclass N(Module):\n  def __setstate__(self"
		  ", s: int) -> None:\n    pass\n", "__torch__.x.N" },
	};

	for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
		size_t len = strlen(in[i].src);
		const char *s = copy(c, in[i].src, len);
		tsl_class_file cf;

		assert_int_equal(tsl__class_file_index(&cf, s, len), TSL_OK);
		for (int lazy = 0; lazy < 2; lazy++) {
			tsl_class_info *a = NULL, *b = NULL;
			tsl_error ea, eb;
			int ra = lazy ? tsl__class_header_parse_lazy(&a, s, len,
				in[i].cls, &c->arena, RECORD, BASE, &ea) :
				tsl__class_header_parse(&a, s, len, in[i].cls,
				&c->arena, RECORD, BASE, &ea);
			int rb = tsl__class_header_parse_in(&b, &cf, s, len,
				in[i].cls, &c->arena, RECORD, BASE, lazy, &eb);

			assert_int_equal(ra, rb);
			if (ra) {
				assert_string_equal(ea.message, eb.message);
				assert_int_equal(ea.offset, eb.offset);
				continue;
			}
			same_info(a, b);
		}
		tsl__class_file_free(&cf);
	}
}

/* every prefix of every real input: no crash, no read past the end */
static void test_all_prefixes(void **state)
{
	ctx *c = *state;
	static const struct {
		const char *src;
		const char *cls;
	} in[] = {
		{ LINEAR, "Linear" }, { SEQ, "Sequential" }, { LSTM, "LSTM" },
		{ WEIRD, "Weird" }, { HOOKS, "Hk" }, { STATE, "St" },
		{ IFACE, "ModIface" }, { ENUMS, "M" }, { ENUMS, "NTD" },
		{ ENUMS, "Name" }, { PLAIN, "Plain" }, { PACKED, "PackedSequence" },
		{ LEGACY_SEQ, "_ConstSequential" }, { OLD_NONE, "ConvBlock" },
	};

	for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
		size_t len = strlen(in[i].src);

		for (size_t n = 0; n <= len; n++) {
			tsl_arena a;
			tsl_class_info *ci;
			tsl_class_method *fns;
			size_t nf;
			char *b = malloc(n ? n : 1);
			int rc;

			assert_non_null(b);
			memcpy(b, in[i].src, n);
			tsl__arena_init(&a, 0);
			rc = tsl__class_header_parse(&ci, b, n, in[i].cls, &a,
				RECORD, BASE, &c->err);
			assert_true(rc == TSL_OK || rc == TSL_EFORMAT ||
				rc == TSL_ENOTFOUND);
			if (n == len)
				assert_int_equal(rc, TSL_OK);
			rc = tsl__code_functions(&fns, &nf, b, n, &a, RECORD,
				BASE, NULL);
			assert_true(rc == TSL_OK || rc == TSL_EFORMAT);
			tsl__arena_free(&a);
			free(b);
		}
	}
}

/* random byte changes: results stay inside the input and the arena */
static void test_mutations(void **state)
{
	ctx *c = *state;
	static const char *const srcs[] = { LSTM, WEIRD, ENUMS, HOOKS, SEQ };
	static const char alphabet[] = "()[]{},:=\"'\\\n -> ._aZ0\0\r\t";
	uint64_t x = 0x9e3779b97f4a7c15ull;
	size_t ok = 0;

	for (int iter = 0; iter < 20000; iter++) {
		const char *src = srcs[iter % 5];
		size_t len = strlen(src);
		char *b = malloc(len);
		tsl_arena a;
		tsl_class_info *ci;
		tsl_class_method *fns;
		size_t nf;
		int rc;

		assert_non_null(b);
		memcpy(b, src, len);
		for (int k = 0; k < 1 + iter % 4; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			b[(x >> 8) % len] = alphabet[(x >> 40) % (sizeof alphabet - 1)];
		}
		tsl__arena_init(&a, 0);
		rc = tsl__class_header_parse(&ci, b, len,
			iter % 5 == 0 ? "LSTM" : iter % 5 == 1 ? "Weird" :
			iter % 5 == 2 ? "M" : iter % 5 == 3 ? "Hk" : "Sequential",
			&a, RECORD, BASE, &c->err);
		assert_true(rc == TSL_OK || rc == TSL_EFORMAT ||
			rc == TSL_ENOTFOUND);
		if (rc == TSL_OK) {
			ok++;
			for (size_t i = 0; i < ci->nmethods; i++) {
				const tsl_class_method *m = &ci->methods[i];

				assert_true(m->src >= b && m->src + m->src_len <= b + len);
				for (size_t j = 0; j < m->nargs; j++)
					assert_non_null(m->args[j].name);
			}
			for (size_t i = 0; i < ci->nattrs; i++)
				assert_non_null(ci->attrs[i].type);
		}
		rc = tsl__code_functions(&fns, &nf, b, len, &a, RECORD, BASE,
			NULL);
		assert_true(rc == TSL_OK || rc == TSL_EFORMAT);
		tsl__arena_free(&a);
		free(b);
	}
	assert_true(ok > 1000);
}

static void test_kind_names(void **state)
{
	(void)state;
	assert_string_equal(tsl__class_kind_name(TSL_CLASS_MODULE), "module");
	assert_string_equal(tsl__class_kind_name(TSL_CLASS_ENUM), "enum");
	assert_string_equal(tsl__class_kind_name((tsl_class_kind)42), "unknown");
}

/* A model load parses the class headers from sources decoded for the parse
 * and dropped: nothing is left in the archive's cache of decoded records
 * (this fixture's storages are stored, its code/ deflated).  The methods,
 * asked for later, read the source again, and then it is cached. */
static void test_source_dropped_after_load(void **state)
{
	char *path = srcdir_path("tests/data/good-resnet-script.pt");
	tsl_archive *ar;
	tsl_model *m;
	tsl_error e;
	const tsl_module *root;
	uint64_t after_load;

	(void)state;
	assert_int_equal(tsl_archive_open_path(&ar, path, NULL, &e), TSL_OK);
	assert_int_equal(tsl_model_load(&m, ar, NULL, &e), TSL_OK);
	after_load = atomic_load(&ar->zip->decoded_total);
	/* what stays is the sources of several classes (resnet.py holds
	 * ResNet and BasicBlock), each read once for all of them; the
	 * sources of one class each were dropped after their parse */
	{
		uint64_t several = 0;
		size_t i, shared = 0;

		for (i = 0; i < tsl_archive_record_count(ar); i++) {
			tsl_record_info ri;
			const void *d;
			size_t n, k, classes = 0;
			const char *rel;

			assert_int_equal(tsl_archive_record(ar, i, &ri), TSL_OK);
			rel = strncmp(ri.name, "code/", 5) == 0 ? ri.name :
				strstr(ri.name, "/code/");
			if (!rel)
				continue;
			if (*rel == '/')
				rel++;
			assert_int_equal(tsl_archive_read(ar, rel, &d, &n, &e),
				TSL_OK);
			for (k = 0; k + 6 <= n; k++)
				if ((k == 0 || ((const char *)d)[k - 1] == '\n') &&
					memcmp((const char *)d + k, "class ", 6) == 0)
					classes++;
			if (classes > 1) {
				several += ri.size;
				shared++;
			}
		}
		assert_true(shared >= 1);
		assert_int_equal(after_load, several);
	}
	root = tsl_model_root(m);
	assert_int_equal(tsl_module_methods_load(root, &e), TSL_OK);
	assert_true(tsl_module_method_count(root) > 0);   /* forward */
	assert_true(atomic_load(&ar->zip->decoded_total) > 0);
	tsl_model_free(m);
	tsl_archive_free(ar);
	free(path);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_linear),
		cmocka_unit_test(test_source_dropped_after_load),
		T(test_sequential),
		T(test_lstm),
		T(test_defaults),
		T(test_hooks),
		T(test_state),
		T(test_interface),
		T(test_enum_and_more),
		T(test_plain_class),
		T(test_namedtuple),
		T(test_legacy_headers),
		T(test_g1_functions),
		T(test_none_spellings),
		T(test_unannotated),
		T(test_line_endings),
		T(test_lists),
		T(test_not_found),
		T(test_einval),
		T(test_error_location),
		T(test_malformed),
		T(test_functions_malformed),
		T(test_annotation_shapes),
		T(test_nul_bytes),
		T(test_huge_lines),
		T(test_many_members),
		T(test_arena_limit),
		T(test_members_limit),
		T(test_dunder_at_end),
		T(test_dunder_blanks),
		T(test_file_index),
		T(test_attrs_bound),
		T(test_all_prefixes),
		T(test_mutations),
		T(test_kind_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
