// The staff intranet, by screen family.
export { STAFF_NAV, st } from './i18n';
export { SupportQueue, TicketPage } from './support';
export { Deliveries, SaleLookup, StaffOrders } from './orders';
export { PriceList, SaleForm } from './sale';
export { Audit, CatalogAdmin, Dashboard, Escalations, Reconciliation, StaffAccounts } from './admin';
