// Labels in Chinese and English. The language comes from the browser first (navigator.languages),
// then from the switch in the header, remembered in localStorage. Reason titles come from
// i18n/reasons.json, API errors by their code from ERRORS below.

const MESSAGES = {
  en: {
    brand: "Tianwang", tagline: "Auto-loan fraud workbench",
    nav_queue: "Queue", nav_rings: "Rings", nav_dealers: "Dealers", nav_analysts: "Configuration",
    logout: "Log out", language: "Language",
    login_title: "Log in", username: "Username", password: "Password", login: "Log in",
    queue_title: "Review queue", tab_mine: "My cases", tab_unassigned: "Unassigned", tab_all: "All open",
    take_next: "Take the next case", no_cases: "No cases here.", nothing_to_take: "No case is waiting.",
    col_risk: "Risk", col_case: "Case", col_kind: "Kind", col_age: "Age / target", col_assignee: "Assignee",
    col_status: "Status", kind_application: "Application", kind_ring: "Ring",
    status_open: "Open", status_in_progress: "In progress", status_closed: "Closed",
    overdue: "overdue", hours: "h", minutes: "min", days: "d", unassigned: "unassigned",
    case_title: "Case", decision: "Decision", fraud_score: "Fraud score", band: "Band", action: "Action",
    band_approve: "Approve", band_review: "Review", band_reject: "Reject",
    action_approve: "Approve", action_approve_with_verification: "Approve with verification",
    action_review: "Review", action_reject: "Reject",
    hold_funding: "Funding held", verification_tasks: "Verification tasks",
    task_proof_of_income: "Proof of income", task_employment_check: "Employment check",
    task_identity_check: "Identity check",
    reasons: "Reasons", no_reasons: "No reason given.", evidence: "Evidence", strength: "strength",
    votes: "Detector votes", left_out: "Left out", application: "Application", loading: "Loading…",
    similar_fraud: "Nearest confirmed fraud", no_similar: "No confirmed fraud case is close.",
    matched: "Shared", distance: "distance", network: "Network (2 hops)", ring: "Ring",
    graph_hint: "Red: confirmed fraud. Click a node to expand its neighbours.",
    actions: "Actions", confirm_fraud: "Confirm fraud", false_positive: "False positive",
    verified_legitimate: "Verified legitimate", ask_verification: "Ask for verification",
    hold: "Hold funding", release: "Release funding", typology: "Typology", note: "Note",
    close_case: "Close case", cancel: "Cancel", request: "Request", assign_me: "Assign to me",
    notes: "Notes", add_note: "Add note", timeline: "Timeline", closed_as: "Closed as",
    outcome_confirmed_fraud: "Confirmed fraud", outcome_false_positive: "False positive",
    outcome_verified_legitimate: "Verified legitimate",
    rings_title: "Fraud rings", min_risk: "Minimum risk", min_size: "Minimum size", dealer: "Dealer",
    filter: "Filter", more: "More", size: "Size", applications: "Applications", confirmed: "Confirmed fraud",
    shared: "Shared", last_activity: "Last activity", ring_title: "Ring", statistics: "Statistics",
    members: "Members", shared_attributes: "Shared attributes", review_ring: "Review this ring (open its case)",
    joined_since: "Joined since the last review", none: "None", fraud_rate: "Fraud rate",
    labelled: "Labelled", time_span: "Time span", dealers: "Dealers", risk: "Risk",
    dealers_title: "Dealers", sort: "Sort", sort_risk: "Riskiest first", sort_applications: "Most applications",
    sort_dealer_id: "Dealer id", inflated_deals: "Inflated deals", rings_touching: "Rings touching it",
    ring_share: "In risky rings", scorecard: "Dealer scorecard", by_band: "Decisions by band",
    decided: "Decided here", applications_here: "Applications at this dealer",
    analysts_title: "Configuration", active_version: "Active version", proposals: "Proposals",
    no_proposals: "No proposal waits for review.", approve: "Approve", reject: "Reject", proposed_by: "Proposed by",
    backtest: "Backtest", metric: "Metric", proposal: "Proposal", active: "Active", comment: "Comment",
    backtest_running: "The backtest is running.", version: "Version", summary: "Summary",
    saved: "Saved.", closed_ok: "Case closed.", requested: "Requested.", need_typology: "Choose a typology.",
    submitted_at: "Submitted", applicant: "Applicant", loan: "Loan", vehicle: "Vehicle", credit: "Credit",
    documents: "Documents", personal_hidden: "Personal fields are hidden for your role.",
    node_types: "Node types", expand_failed: "Could not expand the node.",
  },
  zh: {
    brand: "天网", tagline: "车贷反欺诈工作台",
    nav_queue: "审核队列", nav_rings: "团伙", nav_dealers: "经销商", nav_analysts: "策略配置",
    logout: "退出登录", language: "语言",
    login_title: "登录", username: "用户名", password: "密码", login: "登录",
    queue_title: "审核队列", tab_mine: "我的案件", tab_unassigned: "待领取", tab_all: "全部未结",
    take_next: "领取下一案件", no_cases: "暂无案件。", nothing_to_take: "没有等待处理的案件。",
    col_risk: "风险", col_case: "案件", col_kind: "类型", col_age: "时长 / 目标", col_assignee: "处理人",
    col_status: "状态", kind_application: "申请", kind_ring: "团伙",
    status_open: "待处理", status_in_progress: "处理中", status_closed: "已结案",
    overdue: "已超时", hours: "小时", minutes: "分钟", days: "天", unassigned: "未分配",
    case_title: "案件", decision: "决策", fraud_score: "欺诈分", band: "等级", action: "处置",
    band_approve: "通过", band_review: "人工审核", band_reject: "拒绝",
    action_approve: "通过", action_approve_with_verification: "核实后通过",
    action_review: "人工审核", action_reject: "拒绝",
    hold_funding: "暂缓放款", verification_tasks: "核实任务",
    task_proof_of_income: "收入证明", task_employment_check: "工作核实", task_identity_check: "身份核实",
    reasons: "原因", no_reasons: "无原因。", evidence: "证据", strength: "权重",
    votes: "检测器投票", left_out: "未参与", application: "申请详情", loading: "加载中…",
    similar_fraud: "最相似的已确认欺诈", no_similar: "没有相近的已确认欺诈案例。",
    matched: "共同项", distance: "距离", network: "关联网络（两跳）", ring: "团伙",
    graph_hint: "红色：已确认欺诈。点击节点展开其关联。",
    actions: "操作", confirm_fraud: "确认欺诈", false_positive: "误报",
    verified_legitimate: "核实为正常", ask_verification: "要求核实",
    hold: "暂缓放款", release: "恢复放款", typology: "欺诈类型", note: "备注",
    close_case: "结案", cancel: "取消", request: "提交", assign_me: "分配给我",
    notes: "备注", add_note: "添加备注", timeline: "时间线", closed_as: "结案结论",
    outcome_confirmed_fraud: "确认欺诈", outcome_false_positive: "误报",
    outcome_verified_legitimate: "核实为正常",
    rings_title: "欺诈团伙", min_risk: "最低风险", min_size: "最少人数", dealer: "经销商",
    filter: "筛选", more: "更多", size: "人数", applications: "申请数", confirmed: "已确认欺诈",
    shared: "共用项", last_activity: "最近活动", ring_title: "团伙", statistics: "统计",
    members: "成员", shared_attributes: "共用属性", review_ring: "审核该团伙（打开团伙案件）",
    joined_since: "上次审核后新加入", none: "无", fraud_rate: "欺诈率",
    labelled: "已标注", time_span: "时间跨度", dealers: "经销商", risk: "风险",
    dealers_title: "经销商", sort: "排序", sort_risk: "风险最高", sort_applications: "申请最多",
    sort_dealer_id: "经销商编号", inflated_deals: "虚高车价交易", rings_touching: "涉及团伙",
    ring_share: "高风险团伙占比", scorecard: "经销商评分卡", by_band: "各等级决策数",
    decided: "本系统已决策", applications_here: "在该经销商的申请",
    analysts_title: "策略配置", active_version: "当前生效版本", proposals: "待审提案",
    no_proposals: "没有待审核的提案。", approve: "批准", reject: "驳回", proposed_by: "提案人",
    backtest: "回测", metric: "指标", proposal: "提案", active: "当前", comment: "意见",
    backtest_running: "回测进行中。", version: "版本", summary: "说明",
    saved: "已保存。", closed_ok: "案件已结案。", requested: "已提交。", need_typology: "请选择欺诈类型。",
    submitted_at: "提交时间", applicant: "申请人", loan: "贷款", vehicle: "车辆", credit: "征信",
    documents: "材料", personal_hidden: "您的角色不可查看个人信息字段。",
    node_types: "节点类型", expand_failed: "无法展开该节点。",
  },
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
  return (MESSAGES[lang] && MESSAGES[lang][key]) || MESSAGES.en[key] || key;
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
