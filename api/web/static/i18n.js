// Labels in Chinese and English. The language comes from the browser first (navigator.languages),
// then from the switch in the header, remembered in localStorage. Reason titles come from
// i18n/reasons.json, API errors by their code from ERRORS below.

// every label: [English, 中文]
const MESSAGES = {
  brand: ["Tianwang", "天网"],
  tagline: ["Auto-loan fraud workbench", "车贷反欺诈工作台"],
  nav_queue: ["Queue", "审核队列"],
  nav_rings: ["Rings", "团伙"],
  nav_dealers: ["Dealers", "经销商"],
  nav_analysts: ["Configuration", "策略配置"],
  logout: ["Log out", "退出登录"],
  language: ["Language", "语言"],
  login_title: ["Log in", "登录"],
  username: ["Username", "用户名"],
  password: ["Password", "密码"],
  login: ["Log in", "登录"],
  queue_title: ["Review queue", "审核队列"],
  tab_mine: ["My cases", "我的案件"],
  tab_unassigned: ["Unassigned", "待领取"],
  tab_all: ["All open", "全部未结"],
  take_next: ["Take the next case", "领取下一案件"],
  no_cases: ["No cases here.", "暂无案件。"],
  nothing_to_take: ["No case is waiting.", "没有等待处理的案件。"],
  col_risk: ["Risk", "风险"],
  col_case: ["Case", "案件"],
  col_kind: ["Kind", "类型"],
  col_age: ["Age / target", "时长 / 目标"],
  col_assignee: ["Assignee", "处理人"],
  col_status: ["Status", "状态"],
  kind_application: ["Application", "申请"],
  kind_ring: ["Ring", "团伙"],
  status_open: ["Open", "待处理"],
  status_in_progress: ["In progress", "处理中"],
  status_closed: ["Closed", "已结案"],
  overdue: ["overdue", "已超时"],
  hours: ["h", "小时"],
  minutes: ["min", "分钟"],
  days: ["d", "天"],
  unassigned: ["unassigned", "未分配"],
  case_title: ["Case", "案件"],
  decision: ["Decision", "决策"],
  fraud_score: ["Fraud score", "欺诈分"],
  band: ["Band", "等级"],
  action: ["Action", "处置"],
  band_approve: ["Approve", "通过"],
  band_review: ["Review", "人工审核"],
  band_reject: ["Reject", "拒绝"],
  action_approve: ["Approve", "通过"],
  action_approve_with_verification: ["Approve with verification", "核实后通过"],
  action_review: ["Review", "人工审核"],
  action_reject: ["Reject", "拒绝"],
  hold_funding: ["Funding held", "暂缓放款"],
  verification_tasks: ["Verification tasks", "核实任务"],
  task_proof_of_income: ["Proof of income", "收入证明"],
  task_employment_check: ["Employment check", "工作核实"],
  task_identity_check: ["Identity check", "身份核实"],
  reasons: ["Reasons", "原因"],
  no_reasons: ["No reason given.", "无原因。"],
  evidence: ["Evidence", "证据"],
  strength: ["strength", "权重"],
  votes: ["Detector votes", "检测器投票"],
  left_out: ["Left out", "未参与"],
  degraded_graph: ["Decided without the graph: the graph store could not be reached, so the graph detectors did not run.", "未使用图谱决策：图数据库不可达，图谱检测器未运行。"],
  degraded_raised: ["It would have been approved; it was sent to review instead.", "本应批准，已改为人工审核。"],
  application: ["Application", "申请详情"],
  loading: ["Loading…", "加载中…"],
  similar_fraud: ["Nearest confirmed fraud", "最相似的已确认欺诈"],
  no_similar: ["No confirmed fraud case is close.", "没有相近的已确认欺诈案例。"],
  matched: ["Shared", "共同项"],
  distance: ["distance", "距离"],
  network: ["Network (2 hops)", "关联网络（两跳）"],
  ring: ["Ring", "团伙"],
  graph_hint: ["Red: confirmed fraud. Click a node to expand its neighbours.", "红色：已确认欺诈。点击节点展开其关联。"],
  actions: ["Actions", "操作"],
  confirm_fraud: ["Confirm fraud", "确认欺诈"],
  false_positive: ["False positive", "误报"],
  verified_legitimate: ["Verified legitimate", "核实为正常"],
  ask_verification: ["Ask for verification", "要求核实"],
  hold: ["Hold funding", "暂缓放款"],
  release: ["Release funding", "恢复放款"],
  typology: ["Typology", "欺诈类型"],
  note: ["Note", "备注"],
  close_case: ["Close case", "结案"],
  cancel: ["Cancel", "取消"],
  request: ["Request", "提交"],
  assign_me: ["Assign to me", "分配给我"],
  show_value: ["Show", "显示原值"],
  show_value_hint: ["Show the raw value (recorded in the audit log)", "显示原始值（将记入审计日志）"],
  notes: ["Notes", "备注"],
  add_note: ["Add note", "添加备注"],
  timeline: ["Timeline", "时间线"],
  closed_as: ["Closed as", "结案结论"],
  outcome_confirmed_fraud: ["Confirmed fraud", "确认欺诈"],
  outcome_false_positive: ["False positive", "误报"],
  outcome_verified_legitimate: ["Verified legitimate", "核实为正常"],
  rings_title: ["Fraud rings", "欺诈团伙"],
  min_risk: ["Minimum risk", "最低风险"],
  min_size: ["Minimum size", "最少人数"],
  dealer: ["Dealer", "经销商"],
  filter: ["Filter", "筛选"],
  more: ["More", "更多"],
  size: ["Size", "人数"],
  applications: ["Applications", "申请数"],
  confirmed: ["Confirmed fraud", "已确认欺诈"],
  shared: ["Shared", "共用项"],
  last_activity: ["Last activity", "最近活动"],
  ring_title: ["Ring", "团伙"],
  statistics: ["Statistics", "统计"],
  members: ["Members", "成员"],
  shared_attributes: ["Shared attributes", "共用属性"],
  review_ring: ["Review this ring (open its case)", "审核该团伙（打开团伙案件）"],
  joined_since: ["Joined since the last review", "上次审核后新加入"],
  none: ["None", "无"],
  fraud_rate: ["Fraud rate", "欺诈率"],
  labelled: ["Labelled", "已标注"],
  time_span: ["Time span", "时间跨度"],
  dealers: ["Dealers", "经销商"],
  risk: ["Risk", "风险"],
  dealers_title: ["Dealers", "经销商"],
  sort: ["Sort", "排序"],
  sort_risk: ["Riskiest first", "风险最高"],
  sort_applications: ["Most applications", "申请最多"],
  sort_dealer_id: ["Dealer id", "经销商编号"],
  inflated_deals: ["Inflated deals", "虚高车价交易"],
  rings_touching: ["Rings touching it", "涉及团伙"],
  ring_share: ["In risky rings", "高风险团伙占比"],
  scorecard: ["Dealer scorecard", "经销商评分卡"],
  by_band: ["Decisions by band", "各等级决策数"],
  decided: ["Decided here", "本系统已决策"],
  applications_here: ["Applications at this dealer", "在该经销商的申请"],
  analysts_title: ["Configuration", "策略配置"],
  active_version: ["Active version", "当前生效版本"],
  proposals: ["Proposals", "待审提案"],
  no_proposals: ["No proposal waits for review.", "没有待审核的提案。"],
  approve: ["Approve", "批准"],
  reject: ["Reject", "驳回"],
  proposed_by: ["Proposed by", "提案人"],
  backtest: ["Backtest", "回测"],
  metric: ["Metric", "指标"],
  proposal: ["Proposal", "提案"],
  active: ["Active", "当前"],
  comment: ["Comment", "意见"],
  backtest_running: ["The backtest is running.", "回测进行中。"],
  version: ["Version", "版本"],
  summary: ["Summary", "说明"],
  saved: ["Saved.", "已保存。"],
  closed_ok: ["Case closed.", "案件已结案。"],
  requested: ["Requested.", "已提交。"],
  need_typology: ["Choose a typology.", "请选择欺诈类型。"],
  submitted_at: ["Submitted", "提交时间"],
  applicant: ["Applicant", "申请人"],
  loan: ["Loan", "贷款"],
  vehicle: ["Vehicle", "车辆"],
  credit: ["Credit", "征信"],
  documents: ["Documents", "材料"],
  personal_hidden: ["Personal fields are hidden for your role.", "您的角色不可查看个人信息字段。"],
  node_types: ["Node types", "节点类型"],
  expand_failed: ["Could not expand the node.", "无法展开该节点。"],
};

// labels of graph node types, detectors and typologies
const TERMS = {
  Application: ["Application", "申请"], Person: ["Person", "个人"], Phone: ["Phone", "手机号"],
  Device: ["Device", "设备"], BankAccount: ["Bank account", "银行账户"], Address: ["Address", "地址"],
  Employer: ["Employer", "工作单位"], Dealer: ["Dealer", "经销商"], Vehicle: ["Vehicle", "车辆"],
  Document: ["Document", "材料"], Ring: ["Ring", "团伙"], Contact: ["Contact", "联系人"], IP: ["IP", "IP"],
  identity_theft: ["Identity theft", "身份冒用"], synthetic_identity: ["Synthetic identity", "合成身份"],
  multi_lending: ["Multi-lending", "多头借贷"], forged_documents: ["Forged documents", "伪造材料"],
  rules: ["Rules", "规则"], watchlist: ["Watchlist", "关注名单"], fraud_ring: ["Fraud ring", "欺诈团伙"],
  gnn_ring: ["Ring GNN", "团伙图神经网络"], known_fraud_similarity: ["Known-fraud similarity", "已知欺诈相似度"],
  graph_evidence: ["Evidence that adds up", "证据累积模型"],
  cash_out_ring: ["Cash-out ring", "套现团伙"], dealer_collusion: ["Dealer collusion", "经销商勾结"],
  other: ["Other", "其他"],
  // an application's fields
  name: ["Name", "姓名"], id_number: ["Id number", "身份证号"], phone: ["Phone", "手机号"], address: ["Address", "地址"],
  occupation: ["Occupation", "职业"], monthly_income: ["Monthly income", "月收入"],
  face_match_score: ["Face match", "人脸比对分"], liveness_passed: ["Liveness passed", "活体检测通过"],
  bank_account: ["Bank account", "银行账户"], device_id: ["Device", "设备号"], employer: ["Employer", "工作单位"],
  amount: ["Loan amount", "贷款金额"], vehicle_price: ["Vehicle price", "车价"], down_payment: ["Down payment", "首付"],
  term_months: ["Term (months)", "期数（月）"], annual_rate: ["Annual rate", "年利率"], product: ["Product", "产品"],
  brand: ["Brand", "品牌"], model: ["Model", "车型"], is_new: ["New car", "新车"], vin: ["VIN", "车架号"],
  bureau_score: ["Bureau score", "征信评分"], inquiries_3m: ["Inquiries (3 months)", "近三月查询次数"],
  open_loans: ["Open loans", "在贷笔数"], monthly_debt_payments: ["Monthly debt payments", "月还款额"],
  worst_delinquency_days: ["Worst delinquency (days)", "最长逾期天数"],
  // a case's timeline
  event_opened: ["Opened", "开案"], event_assigned: ["Assigned", "分配"], event_note: ["Note", "备注"],
  event_snoozed: ["Snoozed", "暂缓"], event_closed: ["Closed", "结案"],
  event_verification_requested: ["Verification requested", "要求核实"], event_funding_held: ["Funding held", "暂缓放款"],
  event_funding_released: ["Funding released", "恢复放款"], event_reopened: ["Reopened", "重新打开"],
  event_revealed: ["Raw value shown", "查看原始值"],
};

//: the typologies an investigator chooses from when confirming fraud
export const TYPOLOGIES = ["cash_out_ring", "identity_theft", "synthetic_identity", "dealer_collusion",
  "forged_documents", "multi_lending", "other"];

const ERRORS = {
  unauthorized: ["Log in first, or your session has ended.", "请先登录，或登录已过期。"],
  forbidden: ["Your role may not do this.", "您的角色无权执行此操作。"],
  not_found: ["Not found.", "未找到。"],
  conflict: ["Someone changed this meanwhile; reload.", "内容已被他人修改，请刷新。"],
  invalid_request: ["Check the field:", "请检查字段："],
  too_many_requests: ["Too many requests; wait a moment.", "请求过多，请稍候。"],
  internal_error: ["Something went wrong on the server.", "服务器出错。"],
  unavailable: ["The service is not ready; try again.", "服务暂不可用，请重试。"],
  network: ["The service cannot be reached.", "无法连接服务。"],
};

let reasons = {};
let lang = pick();

function pick() {
  const saved = localStorage.getItem("tianwang.lang");
  if (saved === "zh" || saved === "en") return saved;
  for (const l of navigator.languages || [navigator.language || "en"]) {
    if (l.toLowerCase().startsWith("zh")) return "zh";
    if (l.toLowerCase().startsWith("en")) return "en";
  }
  return "en";
}

export function getLang() { return lang; }

export function setLang(value) {
  lang = value === "zh" ? "zh" : "en";
  localStorage.setItem("tianwang.lang", lang);
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
}

export async function loadCatalogue() {
  const answer = await fetch("/static/i18n/reasons.json", { credentials: "same-origin" });
  reasons = answer.ok ? await answer.json() : {};
  setLang(lang);
}

export function t(key) {
  const found = MESSAGES[key];
  return found ? found[lang === "zh" ? 1 : 0] : key;
}

export function term(name) {
  const found = TERMS[name] || TERMS[`${name}_typology`];
  if (!found) return String(name).replace(/^event_/, "").replaceAll("_", " ");
  return lang === "zh" ? found[1] : found[0];
}

export function reasonTitle(code) {
  const found = reasons[code];
  if (found) return found[lang] || found.en;
  return String(code).replaceAll("_", " ").toLowerCase();
}

export function errorText(error) {
  if (!error) return ERRORS.internal_error[lang === "zh" ? 1 : 0];
  const found = ERRORS[error.code];
  if (!found) return `${lang === "zh" ? "操作失败：" : ""}${error.message || error.code}`;
  const base = found[lang === "zh" ? 1 : 0];
  return error.field ? `${base} ${error.field}` : base;
}
