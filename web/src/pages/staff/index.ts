// The staff intranet, by screen family (a separate file of the bundle: main.tsx imports it lazily).
export { staffNav, staffScreen } from './screens';
export { STAFF_NAV, st } from './i18n';
export { SupportQueue, TicketPage } from './support';
export { Deliveries, SaleLookup, StaffOrders } from './orders';
export { PriceList, SaleForm } from './sale';
export { Audit, CatalogAdmin, Dashboard, Reconciliation, StaffAccounts } from './admin';
export { Collections, Escalations, Ledger } from './money';
